//! One organisation served by several nodes sharing one store (PostgreSQL), behind two [`Balancer`]s: one
//! for AS4, one for the organisation API. The nodes are one node's data directory copied — the same keys,
//! trust, address book and API clients — each with its own ports and `[node] name`; the SMP publishes the
//! AS4 balancer, so peers reach whichever node is alive.

use std::path::Path;

use super::{
    Api, Balancer, Lab, LabError, LabNode, NodeSpec, Ports, config_text, failed, has_store,
};

/// Several nodes of one organisation and their balancers; the nodes are killed when this is dropped.
pub struct Cluster {
    /// `<name>-1`, `<name>-2`, …; the first was set up, the others copied from it.
    pub nodes: Vec<LabNode>,
    /// In front of the nodes' AS4 ports; its URL is the one in the SMP and in `[as4] public_url`.
    pub as4: Balancer,
    /// In front of the nodes' API ports.
    pub api: Balancer,
}

impl Lab {
    /// Sets up `count` nodes for `spec` (not started) on the store `store` (a `[store]` section such as
    /// [`super::postgres_store`] gives: every node gets the same, so they share it) behind two balancers.
    /// `edit` may change each node's configuration text, as for [`Lab::node`].
    pub fn cluster(
        &self,
        spec: &NodeSpec<'_>,
        count: usize,
        store: &str,
        edit: impl Fn(&mut String),
    ) -> Result<Cluster, LabError> {
        let refuse = |detail: &str| LabError {
            step: format!("setting up the cluster {}", spec.name),
            detail: detail.to_owned(),
        };
        if count == 0 {
            return Err(refuse("a cluster needs at least one node"));
        }
        if !has_store(store) {
            // Copies of one redb store would be several organisations' worth of state under one name.
            return Err(refuse(
                "the nodes must share a store: give a [store] section (e.g. lab::postgres_store)",
            ));
        }
        let ports = (0..count)
            .map(|_| Ports::free())
            .collect::<Result<Vec<_>, _>>()?;
        let backends = |port: fn(&Ports) -> u16| {
            ports
                .iter()
                .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], port(p))))
                .collect::<Vec<_>>()
        };
        let as4 = Balancer::start(backends(|p| p.as4))?;
        let api = Balancer::start(backends(|p| p.api))?;
        let public_url = format!("https://127.0.0.1:{}/as4", as4.port());
        let names: Vec<String> = (1..=count).map(|i| format!("{}-{i}", spec.name)).collect();
        let configure = |text: &mut String| -> Result<(), LabError> {
            edit(text);
            if has_store(text) {
                return Err(refuse(
                    "the configuration edit added a [store] section; give the store as `store`",
                ));
            }
            text.push_str(store);
            Ok(())
        };

        let mut edited = Ok(());
        let first = self.node_at(&renamed(spec, &names[0]), ports[0], &public_url, |text| {
            edited = configure(text);
        })?;
        edited?;
        let mut nodes = vec![first];
        for (name, &ports) in names.iter().zip(&ports).skip(1) {
            let root = self.dir.join(name);
            let data = root.join("data");
            // The redb store's payloads are the first node's own (and empty before it starts); everything
            // else — keys, trust, address book, API clients — is what makes the copies the same organisation.
            copy_tree(&nodes[0].data, &data, &["payloads"])?;
            let mut text = config_text(
                &renamed(spec, name),
                self.fed.env().as_str(),
                &self.smp_url,
                ports,
                &public_url,
            );
            configure(&mut text)?;
            let config = root.join("sdk-relay.toml");
            std::fs::write(&config, text).map_err(failed("writing the configuration"))?;
            let model = &nodes[0];
            nodes.push(LabNode {
                name: name.clone(),
                label: model.label.clone(),
                root,
                data,
                config,
                org: model.org.clone(),
                functions: model.functions.clone(),
                ap_id: model.ap_id.clone(),
                api_port: ports.api,
                as4_port: ports.as4,
                admin_port: ports.admin,
                token: model.token.clone(),
                binary: model.binary.clone(),
                client: model.client.clone(),
                process: None,
            });
        }
        Ok(Cluster { nodes, as4, api })
    }
}

impl Cluster {
    /// Starts every node, one after the other (the first to start prepares the shared store), each until
    /// it says `ready`.
    pub fn start(&mut self) -> Result<(), LabError> {
        self.nodes.iter_mut().try_for_each(LabNode::start)
    }

    /// Stops every node with SIGTERM; whether all exited successfully.
    pub fn stop(&mut self) -> Result<bool, LabError> {
        let mut all = true;
        for node in &mut self.nodes {
            all &= node.stop()?;
        }
        Ok(all)
    }

    /// The first node: the organisation, its functional addresses, its data directory (for the CLI).
    pub fn first(&self) -> &LabNode {
        // `Lab::cluster` refuses to make a cluster of no nodes.
        &self.nodes[0]
    }

    /// The address peers send to: the AS4 balancer.
    pub fn as4_url(&self) -> String {
        format!("https://127.0.0.1:{}/as4", self.as4.port())
    }

    /// The organisation API through its balancer, with the API client's token (the same on every node).
    pub fn api(&self) -> Api {
        self.first().api_via(self.api.port())
    }
}

/// `spec` with another name (directory and `[node] name`).
fn renamed<'a>(spec: &NodeSpec<'a>, name: &'a str) -> NodeSpec<'a> {
    NodeSpec { name, ..*spec }
}

/// Copies the directory `from` to `to` (created) recursively with permissions — private keys stay 0600 —
/// leaving out the entries of `from` itself named in `skip`.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<(), LabError> {
    let step = |path: &Path| format!("copying {}", path.display());
    std::fs::create_dir_all(to).map_err(failed(step(to)))?;
    let entries = std::fs::read_dir(from).map_err(failed(step(from)))?;
    for entry in entries {
        let entry = entry.map_err(failed(step(from)))?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(failed(step(&source)))?;
        if kind.is_dir() {
            copy_tree(&source, &target, &[])?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source).map_err(failed(step(&source)))?;
            std::os::unix::fs::symlink(link, &target).map_err(failed(step(&source)))?;
        } else {
            std::fs::copy(&source, &target).map_err(failed(step(&source)))?;
        }
    }
    let mode = std::fs::metadata(from)
        .map_err(failed(step(from)))?
        .permissions();
    std::fs::set_permissions(to, mode).map_err(failed(step(to)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn copy_tree_keeps_contents_and_modes_and_skips_what_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("keys/ap")).unwrap();
        std::fs::create_dir_all(from.join("payloads")).unwrap();
        std::fs::write(from.join("payloads/x"), b"payload").unwrap();
        std::fs::write(from.join("keys/ap/key.pem"), b"secret").unwrap();
        std::fs::set_permissions(
            from.join("keys/ap/key.pem"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::set_permissions(from.join("keys"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::os::unix::fs::symlink("ap", from.join("keys/active")).unwrap();
        // A `payloads` below the top is not the store's: only the top-level entry is skipped.
        std::fs::create_dir_all(from.join("keys/payloads")).unwrap();

        let to = dir.path().join("to");
        copy_tree(&from, &to, &["payloads"]).unwrap();
        assert_eq!(
            std::fs::read(to.join("keys/ap/key.pem")).unwrap(),
            b"secret"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&to.join("keys/ap/key.pem")), 0o600);
        assert_eq!(mode(&to.join("keys")), 0o700);
        assert_eq!(
            std::fs::read_link(to.join("keys/active")).unwrap(),
            Path::new("ap")
        );
        assert!(!to.join("payloads").exists());
        assert!(to.join("keys/payloads").is_dir());
    }
}

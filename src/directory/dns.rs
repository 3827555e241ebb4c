//! NAPTR lookups for the SML through hickory-resolver: UDP with TCP when an answer is truncated, several
//! servers in the order given, each asked once per attempt within a timeout, answers matched to the
//! question by the resolver. No cache: the SMP client caches what the lookup leads to.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolverConfig, ResolverOpts, ServerOrderingStrategy,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, Resolver};

/// One NAPTR record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub regexp: String,
}

/// Why a lookup gave no records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    /// NXDOMAIN, or the name exists without NAPTR records: for the SML, not registered — if it is true.
    #[error("{0} has no NAPTR records (NXDOMAIN or no data)")]
    NoRecords(String),
    #[error("the DNS servers {servers} gave no answer: {detail}")]
    Unreachable { servers: String, detail: String },
    #[error("{0:?} is not a valid DNS name")]
    BadName(String),
}

/// Asks `servers` (in order; the next when one does not answer) for the NAPTR records of `name`.
pub async fn naptr(
    servers: &[SocketAddr],
    name: &str,
    timeout: Duration,
) -> Result<Vec<Naptr>, DnsError> {
    // Absolute, so no search domain is ever appended.
    let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
        .map_err(|_| DnsError::BadName(name.to_owned()))?;
    let mut group = NameServerConfigGroup::with_capacity(2 * servers.len());
    for server in servers {
        // TCP beside UDP: the resolver retries a truncated UDP answer over TCP.
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            group.push(NameServerConfig::new(*server, protocol));
        }
    }
    let mut options = ResolverOpts::default();
    options.timeout = timeout;
    options.attempts = 1;
    options.cache_size = 0;
    options.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
    let resolver = Resolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], group),
        TokioConnectionProvider::default(),
    )
    .with_options(options)
    .build();
    match resolver.lookup(fqdn, RecordType::NAPTR).await {
        Ok(found) => Ok(found
            .iter()
            .filter_map(|rdata| match rdata {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    service: String::from_utf8_lossy(n.services()).into_owned(),
                    regexp: String::from_utf8_lossy(n.regexp()).into_owned(),
                }),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
            Err(DnsError::NoRecords(name.to_owned()))
        }
        Err(e) => Err(DnsError::Unreachable {
            servers: servers
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            detail: e.to_string(),
        }),
    }
}

/// Applies a NAPTR regexp of the whole-string form BDXL uses (`!^.*$!https://smp.example/!`): the result is
/// the replacement. Other expressions are not supported here.
pub fn apply_regexp(regexp: &str) -> Option<String> {
    let delimiter = regexp.chars().next()?;
    let parts: Vec<&str> = regexp[delimiter.len_utf8()..].split(delimiter).collect();
    match parts.as_slice() {
        [pattern, replacement, ""] | [pattern, replacement, "i"] if *pattern == "^.*$" => {
            Some((*replacement).to_owned())
        }
        _ => None,
    }
}

/// DNS server addresses as configured: `host:port` entries separated by commas or spaces.
pub fn parse_servers(list: &str) -> Result<Vec<SocketAddr>, String> {
    let servers: Vec<SocketAddr> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("{s:?} is not IP:port")))
        .collect::<Result<_, _>>()?;
    if servers.is_empty() {
        return Err("no DNS server given".into());
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexps_of_the_bdxl_form_give_their_replacement() {
        assert_eq!(
            apply_regexp("!^.*$!https://smp.example.se/!").as_deref(),
            Some("https://smp.example.se/")
        );
        assert_eq!(apply_regexp("!^(.*)$!\\1!"), None);
        assert_eq!(apply_regexp(""), None);
    }

    #[test]
    fn server_lists_take_commas_and_spaces() {
        assert_eq!(
            parse_servers("192.0.2.1:53, 192.0.2.2:5353").unwrap().len(),
            2
        );
        assert!(parse_servers("dns.example:53").is_err());
        assert!(parse_servers(" , ").is_err());
    }
}

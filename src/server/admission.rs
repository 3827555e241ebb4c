//! Which connections a listener takes: at most [`MAX_CONNECTIONS`] at once, and at most
//! [`MAX_PER_ADDRESS`] from one peer address, so that idle or trickling connections from one source (a
//! slowloris, a flood) cannot take the slots everyone else needs. A connection beyond either bound is closed
//! at once, before its TLS handshake.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections one listener serves at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections one peer address may hold on one listener. An access point or a message service needs a few;
/// a proxy in front of many clients should be given its own listener address.
pub const MAX_PER_ADDRESS: usize = 128;

/// The connections a listener holds, by peer address.
#[derive(Clone, Default)]
pub struct Admission {
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; its slot is given back when this is dropped.
pub struct Ticket {
    held: Arc<Mutex<Held>>,
    address: IpAddr,
}

/// Why a connection was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Full,
    Address,
}

impl Admission {
    pub fn admit(&self, address: IpAddr) -> Result<Ticket, Refusal> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.total >= MAX_CONNECTIONS {
            return Err(Refusal::Full);
        }
        let from_address = held.by_address.entry(address).or_default();
        if *from_address >= MAX_PER_ADDRESS {
            return Err(Refusal::Address);
        }
        *from_address += 1;
        held.total += 1;
        Ok(Ticket {
            held: self.held.clone(),
            address,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total = held.total.saturating_sub(1);
        // Addresses without connections are forgotten, so the map stays as small as what is connected.
        if let Some(n) = held.by_address.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_slot_and_slots_come_back() {
        let admission = Admission::default();
        let flood: IpAddr = "127.0.0.2".parse().unwrap();
        let tickets: Vec<Ticket> = (0..MAX_PER_ADDRESS)
            .map(|_| admission.admit(flood).unwrap())
            .collect();
        assert_eq!(admission.admit(flood).err(), Some(Refusal::Address));
        let other: IpAddr = "127.0.0.1".parse().unwrap();
        let kept = admission
            .admit(other)
            .expect("another address is still served");
        drop(tickets);
        assert!(admission.admit(flood).is_ok());
        drop(kept);
        let held = admission.held.lock().unwrap();
        assert_eq!(held.total, 0);
        assert!(
            held.by_address.is_empty(),
            "no address is remembered once gone"
        );
    }

    #[test]
    fn the_listener_bound_holds_across_addresses() {
        let admission = Admission::default();
        let mut tickets = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let address = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            tickets.push(admission.admit(address).unwrap());
        }
        assert_eq!(
            admission.admit("10.9.9.9".parse().unwrap()).err(),
            Some(Refusal::Full)
        );
    }
}

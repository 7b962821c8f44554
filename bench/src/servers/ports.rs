//! Free TCP ports on 127.0.0.1 for the servers the benchmark starts.

use std::net::{Ipv4Addr, TcpListener};

use anyhow::bail;

/// The first port of `count` consecutive ports that are free on 127.0.0.1 right now and not in
/// `avoid`. (Another process may still take one before the server binds it; the server then
/// fails to start and says so.)
pub fn free_range(count: u16, avoid: &[u16]) -> anyhow::Result<u16> {
    for _ in 0..200 {
        let base: u16 = rand::random::<u16>() % 20_000 + 20_000;
        let range = base..base + count;
        if avoid.iter().any(|p| range.contains(p)) {
            continue;
        }
        if range.clone().all(is_free) {
            return Ok(base);
        }
    }
    bail!("found no {count} consecutive free ports on 127.0.0.1")
}

/// One free port on 127.0.0.1, as the kernel hands it out.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_range_is_bindable_and_avoids_the_given_ports() {
        let avoid: Vec<u16> = (20_000..30_000).collect();
        let base = free_range(4, &avoid).unwrap();
        assert!(base >= 30_000);
        assert!((base..base + 4).all(is_free));
    }
}

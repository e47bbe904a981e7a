//! A copy of a signing process must never sign with a nonce the original also uses: two sr25519
//! signatures with one commitment `R` give the secret key away. The copies that keep their PID are
//! the dangerous ones (a fork into a new PID namespace from PID 1, the usual container entrypoint;
//! checkpoint/restore; a VM snapshot resumed twice), so this test makes exactly that copy: it runs
//! itself as PID 1 of a new PID namespace, signs for a while, then forks into another new PID
//! namespace, where the child is PID 1 again, and both copies sign.
#![cfg(target_os = "linux")]

use neuronet_synapse::{CryptoType, Keypair};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::process::Command;

const AS_PID1: &str = "NEURONET_TEST_AS_PID1";
const SIGNATURES: usize = 64;

fn commitments(keypair: &Keypair, copy: &str) -> Vec<[u8; 32]> {
    (0..SIGNATURES)
        .map(|i| {
            let signature = keypair.sign(format!("{copy} message {i}").as_bytes());
            let mut big_r = [0u8; 32];
            big_r.copy_from_slice(&signature.0[..32]);
            big_r
        })
        .collect()
}

#[test]
fn a_copy_of_the_process_with_the_same_pid_signs_with_other_nonces() {
    if std::env::var_os(AS_PID1).is_none() {
        // Run this very test again as PID 1 of a new PID namespace.
        let exe = std::env::current_exe().expect("the test binary's path");
        let run = |namespaces: &[&str]| {
            Command::new("unshare")
                .args(namespaces)
                .args(["--fork", "--kill-child"])
                .arg(&exe)
                .args([
                    "--exact",
                    "a_copy_of_the_process_with_the_same_pid_signs_with_other_nonces",
                    "--test-threads=1",
                ])
                .env(AS_PID1, "1")
                .status()
                .expect("unshare(1) from util-linux runs")
        };
        // A new PID namespace needs CAP_SYS_ADMIN (root, as in CI), or an unprivileged user
        // namespace to hold it.
        let mut status = run(&["--pid"]);
        if !status.success() {
            status = run(&["--user", "--map-root-user", "--pid"]);
        }
        assert!(status.success(), "the test failed as PID 1 of a new PID namespace: {status}");
        return;
    }
    assert_eq!(std::process::id(), 1, "the re-run must be PID 1 of its namespace");
    let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap();
    // Sign for a while first, as a validator has before its process is copied.
    for i in 0..256 {
        let _ = alice.sign(format!("warm-up {i}").as_bytes());
    }
    std::thread::sleep(std::time::Duration::from_millis(200));

    let mut fds = [0i32; 2];
    // SAFETY: plain libc calls; the child only signs, writes to the pipe and exits.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        assert_eq!(libc::unshare(libc::CLONE_NEWPID), 0, "unshare(CLONE_NEWPID)");
        let child = libc::fork();
        assert!(child >= 0, "fork");
        if child == 0 {
            libc::close(fds[0]);
            let mut out = std::fs::File::from_raw_fd(fds[1]);
            let ok = std::process::id() == 1;
            let mut bytes = vec![u8::from(ok)];
            for big_r in commitments(&alice, "child") {
                bytes.extend_from_slice(&big_r);
            }
            let _ = out.write_all(&bytes);
            drop(out);
            libc::_exit(0);
        }
        libc::close(fds[1]);
        let parent = commitments(&alice, "parent");
        let mut input = std::fs::File::from_raw_fd(fds[0]);
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes).unwrap();
        let mut status = 0;
        libc::waitpid(child, &mut status, 0);
        assert_eq!(bytes.first(), Some(&1), "the copy must have the same PID (1) as the original");
        let child: HashSet<&[u8]> = bytes[1..].chunks(32).collect();
        assert_eq!(child.len(), SIGNATURES, "the copy's signatures");
        let shared = parent.iter().filter(|big_r| child.contains(&big_r[..])).count();
        assert_eq!(shared, 0, "{shared} nonce commitments were used by both copies: the secret key leaks");
    }
}

//! `cargo xtask demo`'s scripted session, as CI runs it (stdin not a terminal): two boots of
//! the demo's live system in QEMU on a fresh changes disk; boot 1 activates hello.sb, runs
//! `hello`, writes a file and powers off through rdinit's shutdown role; boot 2 reads the
//! file back. The same code path as `cargo xtask demo </dev/null`, without the echo.
//! Logs: target/boot-images/logs/demo-1.log and demo-2.log.

use xtask::demo;

#[test]
fn scripted_demo_session_passes() {
    // Its own changes disk, emptied first: the user's target/demo/changes.img is not touched.
    let changes = xtask::images_dir().join("demo-test-changes.img");
    let session = demo::scripted(&changes, true, "", false).expect("the demo's images");
    if !session.passed() {
        let logs: Vec<String> = session.boots.iter().map(|b| b.to_string()).collect();
        panic!("{session}\n{}", logs.join("\n"));
    }
    println!("{session}");
}

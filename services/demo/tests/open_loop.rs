//! `shop-demo --rate R --duration D`: the open-loop load run against the real local shop it
//! starts (Tansu, the registry, the three service processes), read through its printed report.

use std::path::Path;
use std::process::Command;

fn demo(data_dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .current_dir(&workspace)
        .args(["--base-port", "0"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("running shop-demo");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The number right after `label` on the report line that starts with it.
fn count_after(out: &str, label: &str) -> usize {
    let line = out
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line starting with {label:?} in:\n{out}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count after {label:?} in {line:?}"))
}

#[test]
fn the_open_loop_places_every_scheduled_order_and_times_each_stage_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = demo(dir.path(), &["--rate", "20", "--duration", "3s"]);
    assert_eq!(code, Some(0), "the open-loop run failed:\n{out}");

    // One warm-up order went through first, outside the figures below.
    assert!(
        out.contains("warm-up: one order reached its decision mail in"),
        "{out}"
    );
    // 20 orders/s for 3 s: 60 orders on the schedule, all placed.
    assert!(out.contains("60 of 60 orders placed"), "{out}");
    for stage in [
        "POST /orders answered",
        "OrderCreated seen on orders",
        "the inventory's answer seen on inventory",
        "the confirmed/rejected mail delivered",
    ] {
        assert_eq!(count_after(&out, stage), 60, "stage {stage:?} in:\n{out}");
    }
    // Decided is confirmed plus rejected, and every order was decided.
    assert!(out.contains("60 decided in"), "{out}");
    assert!(!out.contains("NOT everything played out"), "{out}");
    assert!(!out.contains("GAVE UP"), "{out}");
    // The open loop places orders without polling them or printing every event.
    assert!(!out.contains("▸ order-service → orders["), "{out}");
}

#[test]
fn the_open_loop_gives_up_with_a_clear_message_when_too_many_orders_are_outstanding() {
    let dir = tempfile::tempdir().unwrap();
    // At most one order undecided: the second one is due 1 ms after the first, before the
    // first can have gone through two services, two topics and a mail.
    let (code, out) = demo(
        dir.path(),
        &[
            "--rate",
            "1000",
            "--duration",
            "1s",
            "--max-outstanding",
            "1",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("GAVE UP after 1 of 1000 orders"), "{out}");
    assert!(out.contains("try a lower --rate"), "{out}");
    // The order that was placed is still followed to its mail before the report.
    assert_eq!(
        count_after(&out, "the confirmed/rejected mail delivered"),
        1,
        "{out}"
    );
}

#[test]
fn rate_and_duration_go_together_and_exclude_the_closed_loop_flags() {
    let dir = tempfile::tempdir().unwrap();
    for (args, complaint) in [
        (&["--rate", "20"][..], "--duration"),
        (&["--duration", "3s"][..], "--rate"),
        (
            &["--rate", "20", "--duration", "3s", "--orders", "5"][..],
            "--orders",
        ),
        (&["--rate", "20", "--duration", "soon"][..], "soon"),
    ] {
        let (code, out) = demo(dir.path(), args);
        assert_eq!(code, Some(1), "{args:?}:\n{out}");
        assert!(out.contains(complaint), "{args:?}:\n{out}");
    }
    let (code, out) = demo(dir.path(), &["--rate", "0", "--duration", "3s"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("give a positive number of orders per second"),
        "{out}"
    );
}

//! Speed tiers: espresso is faster than cortado is faster than americano.
//!
//! Measured as the CPU time (user + system, all threads) of each `crema`
//! child, from wait4's rusage, not wall time: the machine is shared, and CPU
//! time barely moves with load. Alone in its own test binary so that the other
//! tests of the suite do not run beside it. Two interleaved rounds of the two
//! close tiers (espresso, cortado), summed, and one of americano (counted twice), on 2 s of real 720p footage at its own size (scaling to a smaller
//! size would leave too little encoder work to tell x265's fast and medium
//! presets apart: they differ by only ~15% on this content).

#[macro_use]
#[path = "suite/common/mod.rs"]
mod common;

use common::*;
use std::time::Duration;

#[test]
fn espresso_is_faster_than_cortado_is_faster_than_americano() {
    let src = fixture("h264_720p_2s.mp4");
    let dir = tempdir();
    let tiers = ["sophon-espresso", "sophon-cortado", "sophon-americano"];
    let mut cpu = [Duration::ZERO; 3];
    let mut log = Vec::new();
    for round in 0..2 {
        for (i, p) in tiers.iter().enumerate() {
            if i == 2 && round == 1 {
                // americano is over twice as slow: one run tells it apart; count it twice.
                cpu[2] *= 2;
                continue;
            }
            let out = dir.path().join(format!("{p}.{round}.mp4"));
            let r = crema(&args!["encode", &src, "-p", *p, "-o", &out, "--json"]);
            r.ok();
            cpu[i] += r.cpu;
            log.push(format!(
                "{p} round {round}: cpu {:.2} s, wall {:.2} s",
                r.cpu.as_secs_f64(),
                r.wall.as_secs_f64()
            ));
        }
    }
    let msg = format!("{}\ntotals: {cpu:?}", log.join("\n"));
    eprintln!("{msg}");
    assert!(cpu[0] < cpu[1], "espresso is not faster than cortado (CPU time)\n{msg}");
    assert!(cpu[1] < cpu[2], "cortado is not faster than americano (CPU time)\n{msg}");
}

//! macOS classification from `sysctl` dumps.

use hetsched::topology::{CoreClass, Evidence, Topology, TopologyError};

fn counts(t: &Topology) -> (usize, usize, usize, bool) {
    (
        t.count(CoreClass::Performance),
        t.count(CoreClass::Efficiency),
        t.tiers().len(),
        t.is_heterogeneous(),
    )
}

const M1_PRO: &str = "\
hw.ncpu: 10
hw.byteorder: 1234
hw.memsize: 34359738368
hw.activecpu: 10
hw.perflevel1.physicalcpu: 2
hw.perflevel1.physicalcpu_max: 2
hw.perflevel1.logicalcpu: 2
hw.perflevel1.logicalcpu_max: 2
hw.perflevel1.l1icachesize: 131072
hw.perflevel1.cpusperl2: 2
hw.perflevel1.name: Efficiency
hw.perflevel0.physicalcpu: 8
hw.perflevel0.logicalcpu: 8
hw.perflevel0.logicalcpu_max: 8
hw.perflevel0.cpusperl2: 4
hw.perflevel0.name: Performance
hw.nperflevels: 2
hw.physicalcpu: 10
hw.logicalcpu: 10
";

#[test]
fn m1_pro_is_8p_2e_without_cpu_ids() {
    let t = Topology::from_sysctl_dump(M1_PRO).unwrap();
    assert_eq!(counts(&t), (8, 2, 2, true));
    assert!(!t.cpu_ids_known());
    assert!(t.cpus(CoreClass::Performance).is_empty());
    assert!(t.cpus(CoreClass::Efficiency).is_empty());
    assert!(t.allowed().is_empty());
    assert_eq!(t.source().to_string(), "sysctl dump");
    assert_eq!(t.tiers()[0].class(), CoreClass::Efficiency);
    assert_eq!(t.tiers()[0].count(), 2);
    assert_eq!(
        t.tiers()[0].evidence().to_string(),
        "hw.perflevel1 (Efficiency)"
    );
    assert_eq!(
        t.tiers()[1].evidence().to_string(),
        "hw.perflevel0 (Performance)"
    );
}

#[test]
fn m4_with_equals_syntax_is_4p_6e() {
    let dump =
        "hw.nperflevels = 2\nhw.perflevel0.logicalcpu = 4\nhw.perflevel0.name = Performance\n\
                hw.perflevel1.logicalcpu = 6\nhw.perflevel1.name = Efficiency\nhw.ncpu = 10\n";
    assert_eq!(
        counts(&Topology::from_sysctl_dump(dump).unwrap()),
        (4, 6, 2, true)
    );
}

#[test]
fn top_level_named_super_is_still_performance() {
    let dump = "hw.nperflevels: 2\nhw.perflevel0.name: Super\nhw.perflevel0.logicalcpu: 6\n\
                hw.perflevel1.name: Performance\nhw.perflevel1.logicalcpu: 12\n";
    let t = Topology::from_sysctl_dump(dump).unwrap();
    assert_eq!(counts(&t), (6, 12, 2, true));
    assert_eq!(
        t.tiers()[1].evidence(),
        &Evidence::PerfLevel {
            level: 0,
            name: Some("Super".to_string())
        }
    );
    assert_eq!(t.tiers()[0].class(), CoreClass::Efficiency);
}

#[test]
fn three_perf_levels_put_every_level_above_zero_in_efficiency() {
    let dump = "hw.nperflevels: 3\nhw.perflevel0.logicalcpu: 2\nhw.perflevel1.logicalcpu: 4\n\
                hw.perflevel2.logicalcpu: 6\n";
    let t = Topology::from_sysctl_dump(dump).unwrap();
    assert_eq!(counts(&t), (2, 10, 3, true));
    assert_eq!(t.tiers()[2].class(), CoreClass::Performance);
}

#[test]
fn intel_mac_with_one_perf_level_is_homogeneous() {
    let dump = "hw.ncpu: 16\nhw.nperflevels: 1\nhw.perflevel0.logicalcpu: 16\n\
                hw.perflevel0.physicalcpu: 8\nhw.perflevel0.name: Performance\nhw.logicalcpu: 16\n";
    let t = Topology::from_sysctl_dump(dump).unwrap();
    assert_eq!(counts(&t), (16, 0, 1, false));
}

#[test]
fn macos_11_without_perf_levels_uses_logicalcpu() {
    let dump = "hw.ncpu: 8\nhw.physicalcpu: 8\nhw.logicalcpu: 8\nhw.memsize: 17179869184\n";
    let t = Topology::from_sysctl_dump(dump).unwrap();
    assert_eq!(counts(&t), (8, 0, 1, false));
    assert!(matches!(t.tiers()[0].evidence(), Evidence::NoSignal { .. }));
    // hw.ncpu alone is enough too.
    assert_eq!(
        counts(&Topology::from_sysctl_dump("hw.ncpu: 4\n").unwrap()),
        (4, 0, 1, false)
    );
}

#[test]
fn full_sysctl_a_dump_with_unrelated_keys() {
    let dump = format!(
        "kern.ostype: Darwin\nkern.version: Darwin Kernel Version 23.1.0: Mon Oct  9 21:27:24 PDT 2023\n\
         machdep.cpu.brand_string: Apple M1 Pro\nnet.inet.ip.forwarding: 0\n\
         vm.loadavg: {{ 1.73 1.81 1.90 }}\nsome garbage without separator\n\
         user.cs_path = /usr/bin:/bin\n{M1_PRO}"
    );
    assert_eq!(
        counts(&Topology::from_sysctl_dump(&dump).unwrap()),
        (8, 2, 2, true)
    );
}

#[test]
fn dump_without_cpu_keys_is_an_error_naming_what_was_expected() {
    for dump in [
        "",
        "garbage\n\u{0}\u{ff}",
        "kern.ostype: Darwin\nvm.swapusage: total = 0\n",
    ] {
        let err = Topology::from_sysctl_dump(dump).unwrap_err();
        assert!(matches!(err, TopologyError::SysctlDump { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("hw.perflevel0.logicalcpu") && msg.contains("hw.ncpu"),
            "{msg}"
        );
    }
}

#[test]
fn garbage_counts_are_errors_naming_key_and_value() {
    let err = Topology::from_sysctl_dump("hw.ncpu: many\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("hw.ncpu") && msg.contains("many"), "{msg}");
    let err = Topology::from_sysctl_dump("hw.logicalcpu: 0\n").unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
}

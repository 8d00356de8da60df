//! Passwords stay off the command line: `--password-file`, `--sta-password-file`,
//! `WSBENCH_PASSWORD` and `WSBENCH_STA_PASSWORD` reach the flashed record, a trailing
//! newline is dropped, a missing file is a usage error, and no secret is ever printed.

use std::time::Duration;

use wsbench_device::config_record;

use super::run::wsbench;
use super::sim::FlashableSim;

const LIMIT: Duration = Duration::from_secs(60);
const FLASH_LIMIT: Duration = Duration::from_secs(180);

fn record(sim: &FlashableSim) -> config_record::DeviceSettings {
    let flash = sim.flash();
    let at = config_record::FLASH_OFFSET as usize;
    config_record::decode(&flash[at..at + config_record::FLASH_REGION_LEN]).unwrap()
}

fn settings_only(sim: &FlashableSim, extra: &[&str], env: &[(&str, &str)]) -> super::run::Ran {
    let mut args = vec![
        "flash",
        "--port",
        &sim.console,
        "--settings-only",
        "--ready-timeout",
        "2s",
    ];
    args.extend_from_slice(extra);
    wsbench(&args, env, FLASH_LIMIT)
}

#[test]
fn a_password_file_and_the_environment_reach_the_record_and_are_never_printed() {
    let sim = FlashableSim::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ap-password");
    std::fs::write(&file, "file-secret-42\n").unwrap();
    let ran = settings_only(&sim, &["--password-file", file.to_str().unwrap()], &[]);
    // An erased flash has no app to announce a ready line: exit 3, record written.
    assert!(ran.stdout.contains("settings:"), "{}", ran.all());
    assert!(
        !ran.all().contains("file-secret-42"),
        "printed: {}",
        ran.all()
    );
    assert_eq!(record(&sim).password, "file-secret-42");

    let ran = settings_only(&sim, &[], &[("WSBENCH_PASSWORD", "env-secret-42")]);
    assert!(ran.stdout.contains("settings:"), "{}", ran.all());
    assert!(
        !ran.all().contains("env-secret-42"),
        "printed: {}",
        ran.all()
    );
    assert_eq!(record(&sim).password, "env-secret-42");

    let sta = dir.path().join("sta-password");
    std::fs::write(&sta, "sta-file-secret\r\n").unwrap();
    let ran = settings_only(
        &sim,
        &[
            "--sta-ssid",
            "lab",
            "--sta-password-file",
            sta.to_str().unwrap(),
        ],
        &[("WSBENCH_PASSWORD", "not-this-one")],
    );
    assert!(
        !ran.all().contains("sta-file-secret"),
        "printed: {}",
        ran.all()
    );
    let s = record(&sim);
    assert_eq!(
        (s.ssid.as_str(), s.password.as_str()),
        ("lab", "sta-file-secret")
    );

    let ran = settings_only(
        &sim,
        &["--sta-ssid", "lab"],
        &[("WSBENCH_STA_PASSWORD", "sta-env-secret")],
    );
    assert!(
        !ran.all().contains("sta-env-secret"),
        "printed: {}",
        ran.all()
    );
    assert_eq!(record(&sim).password, "sta-env-secret");
}

#[test]
fn a_missing_password_file_is_a_usage_error_before_any_port_is_opened() {
    let ran = wsbench(
        &[
            "flash",
            "--port",
            "/dev/ttyWSBENCH-none",
            "--password-file",
            "/nonexistent/wsbench-password",
        ],
        &[],
        LIMIT,
    );
    ran.assert_fails(2, "wsbench::flash::secret_file");
    assert!(
        ran.stderr.contains("/nonexistent/wsbench-password"),
        "{}",
        ran.all()
    );
}

#[test]
fn the_password_flag_and_its_file_conflict_and_help_names_the_variables() {
    let ran = wsbench(
        &[
            "flash",
            "--password",
            "abcdefgh",
            "--password-file",
            "/tmp/x",
        ],
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert!(!ran.all().contains("abcdefgh"), "{}", ran.all());
    let help = wsbench(&["flash", "--help"], &[], LIMIT);
    for needle in [
        "--password-file",
        "--sta-password-file",
        "WSBENCH_PASSWORD",
        "WSBENCH_STA_PASSWORD",
    ] {
        assert!(help.stdout.contains(needle), "no `{needle}` in --help");
    }
}

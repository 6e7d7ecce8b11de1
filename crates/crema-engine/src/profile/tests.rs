//! Unit tests of profile loading and validation.

use super::*;

#[test]
fn every_builtin_profile_loads_and_the_contract_ids_are_all_there() {
    let set = ProfileSet::builtin().expect("built-in profiles are valid");
    let ids: Vec<&str> = set.iter().map(|p| p.id.as_str()).collect();
    for tier in ["espresso", "cortado", "americano"] {
        for suffix in ["", "-hq", "-10bit", "-hq-10bit"] {
            let id = format!("sophon-{tier}{suffix}");
            let p = set.get(&id).unwrap();
            assert_eq!(p.bit_depth, if suffix.contains("10bit") { 10 } else { 8 }, "{id}");
        }
    }
    assert!(set.get("sophon-auto").unwrap().is_auto());
    assert_eq!(ids.len(), 13);
}

/// What `ProfileSet::load` skips for the compiled-in files: the keys
/// inside their x265-params / x264-params strings.
#[test]
fn builtin_x265_and_x264_params_are_valid() {
    let set = ProfileSet::builtin().unwrap();
    for p in set.iter().filter(|p| !p.is_auto()) {
        for (enc, key) in [("libx265", "x265-params"), ("libx264", "x264-params")] {
            if let Some(v) = p.encoders.get(enc).and_then(|o| o.get(key)) {
                crate::xparams::check_params(enc, v, p.bit_depth).unwrap_or_else(|e| panic!("{}: {e}", p.id));
            }
        }
    }
}

#[test]
fn speed_tiers_follow_the_contract() {
    let set = ProfileSet::builtin().unwrap();
    for (tier, speed, preset) in
        [("espresso", Speed::Fast, "fast"), ("cortado", Speed::Medium, "medium"), ("americano", Speed::Slow, "slow")]
    {
        let p = set.get(&format!("sophon-{tier}")).unwrap();
        assert_eq!(p.speed, Some(speed));
        assert_eq!(p.encoders["libx265"]["preset"], preset);
    }
}

#[test]
fn hq_profiles_ask_for_lower_crf_than_their_standard_twin() {
    let set = ProfileSet::builtin().unwrap();
    for tier in ["espresso", "cortado", "americano"] {
        for ten in ["", "-10bit"] {
            let std: f64 = set.get(&format!("sophon-{tier}{ten}")).unwrap().encoders["libx265"]["crf"].parse().unwrap();
            let hq: f64 =
                set.get(&format!("sophon-{tier}-hq{ten}")).unwrap().encoders["libx265"]["crf"].parse().unwrap();
            assert!(hq < std, "{tier}{ten}: hq crf {hq} vs {std}");
        }
    }
}

fn user_dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    dir
}

fn cortado_with(edit: impl Fn(String) -> String, id: &str) -> String {
    let text = BUILTIN.iter().find(|(f, _)| f.ends_with("/sophon-cortado.toml")).unwrap().1;
    edit(text.replace("id = \"sophon-cortado\"", &format!("id = \"{id}\"")))
}

#[test]
fn user_profiles_add_and_override() {
    let dir = user_dir_with("mine.toml", &cortado_with(|t| t.replace("crf = \"24\"", "crf = \"30\""), "mine"));
    std::fs::write(
        dir.path().join("sophon-cortado.toml"),
        cortado_with(|t| t.replace("crf = \"24\"", "crf = \"19\""), "sophon-cortado"),
    )
    .unwrap();
    let set = ProfileSet::load(Some(dir.path())).unwrap();
    assert_eq!(set.get("mine").unwrap().encoders["libx265"]["crf"], "30");
    assert_eq!(set.get("sophon-cortado").unwrap().encoders["libx265"]["crf"], "19");
    assert!(set.get("sophon-cortado").unwrap().source.ends_with("sophon-cortado.toml"));
}

fn load_err(text: &str) -> String {
    let dir = user_dir_with("bad.toml", text);
    ProfileSet::load(Some(dir.path())).unwrap_err().to_string()
}

#[test]
fn errors_name_file_field_and_allowed_values() {
    let e = load_err(&cortado_with(|t| t.replace("speed = \"medium\"", "speed = \"quick\""), "bad"));
    assert!(e.contains("bad.toml") && e.contains("quick") && e.contains("fast") && e.contains("slow"), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("bit_depth = 8", "bit_depth = 12"), "bad"));
    assert!(e.contains("bad.toml") && e.contains("bit_depth") && e.contains("8, 10"), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("crf = \"24\"", "crf = \"24\"\ncrff = \"1\""), "bad"));
    assert!(e.contains("encoders.libx265.crff") && e.contains("not an option of libx265"), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("aq-mode=2", "aq-mod=2"), "bad"));
    assert!(e.contains("encoders.libx265.x265-params") && e.contains("unknown key \"aq-mod\""), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("crf = \"24\"", "crf = \"banana\""), "bad"));
    assert!(e.contains("encoders.libx265.crf") && e.contains("banana"), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("[encoders.hevc_amf]", "[encoders.hevc_foo]"), "bad"));
    assert!(e.contains("encoders.hevc_foo") && e.contains("libx265, libx264"), "{e}");

    let e = load_err(&cortado_with(|t| t.replace("group = \"standard\"", "group = \"standard\"\ncolour = 1"), "bad"));
    assert!(e.contains("unknown field `colour`") && e.contains("bit_depth"), "{e}");

    let e = load_err(&cortado_with(|t| t, "wrong-name"));
    assert!(e.contains("must equal the file name `bad`"), "{e}");
}

#[test]
fn auto_must_point_at_concrete_8bit_profiles() {
    let auto = BUILTIN.iter().find(|(f, _)| f.ends_with("/sophon-auto.toml")).unwrap().1;
    let e = load_err(
        &auto
            .replace("id = \"sophon-auto\"", "id = \"bad\"")
            .replace("default_profile = \"sophon-cortado\"", "default_profile = \"sophon-cortado-10bit\""),
    );
    assert!(e.contains("auto.default_profile") && e.contains("sophon-cortado-10bit"), "{e}");
}

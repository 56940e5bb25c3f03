//! `cairn validate`: one line per problem, non-zero exit.

use std::process::Command;

#[test]
fn validate_prints_file_line_ref_field_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &f,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ok\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Bad Name\nspec:\n  type: service\n  lifecycle: production\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("validate")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "{}:13: component:default/bad name: metadata.name: ",
        f.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with(&f.display().to_string())),
        "{stdout}"
    );
}

#[test]
fn validate_accepts_the_example_catalog() {
    let root = crate::support::repo_root().join("catalog-examples/all.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("validate")
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

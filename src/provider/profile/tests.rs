use super::*;

#[test]
fn the_shipped_files_parse() {
    let data = litellm::parse(include_str!("models.json")).unwrap();
    assert!(data.len() > 100, "{}", data.len());
    let rules: serde_json::Value = serde_json::from_str(include_str!("rules.json")).unwrap();
    let families: Vec<rules::FamilyRules> =
        serde_json::from_value(rules["families"].clone()).unwrap();
    assert!(!families.is_empty());
}

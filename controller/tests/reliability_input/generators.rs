//! The corpus cases too large or too repetitive to keep as files. Each is listed in
//! `tests/hostile/expectations.toml` with `generated = true` under the name it has in
//! [`GENERATORS`], and is its own test like every file of the corpus.

/// The base manifest the generated cases grow from (also a fuzz seed).
pub const BASE: &str = "\
apiVersion: ecs-operator.io/v1alpha1
kind: MonitoredService
metadata:
  name: shop
spec:
  container:
    image: shop:1.0.0
    port: 8080
  notify:
    team: shop
";

/// Builds the bytes of a generated case's one input file.
pub type Generator = fn() -> Vec<u8>;

/// Case name -> the function that builds its input.
pub const GENERATORS: &[(&str, Generator)] = &[
    ("deep-block-nesting", deep_block_nesting),
    ("deep-compact-sequences", deep_compact_sequences),
    ("deep-flow-mappings", deep_flow_mappings),
    ("deep-nesting-inside-a-field", deep_nesting_inside_a_field),
    ("one-mebibyte-scalar", one_mebibyte_scalar),
    ("a-huge-image-name", a_huge_image_name),
    ("twenty-thousand-env-vars", twenty_thousand_env_vars),
    (
        "a-hundred-alerts-the-most-allowed",
        a_hundred_alerts_the_most_allowed,
    ),
    ("twenty-five-hundred-alerts", twenty_five_hundred_alerts),
    ("twenty-thousand-panels", twenty_thousand_panels),
    (
        "two-hundred-and-one-documents",
        two_hundred_and_one_documents,
    ),
    (
        "a-hundred-thousand-empty-documents",
        a_hundred_thousand_empty_documents,
    ),
    (
        "a-one-mebibyte-line-of-colons",
        a_one_mebibyte_line_of_colons,
    ),
    (
        "forty-thousand-aliases-of-a-4k-string",
        forty_thousand_aliases_of_a_4k_string,
    ),
];

/// Nesting depth of the flow-style cases.
const DEPTH: usize = 20_000;

fn base_with(spec_extra: &str) -> String {
    format!("{BASE}{spec_extra}")
}

fn renamed(name: &str) -> String {
    BASE.replace("  name: shop\n", &format!("  name: {name}\n"))
}

fn deep_block_nesting() -> Vec<u8> {
    let mut block = String::new();
    for i in 0..1_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("a:\n");
    }
    block.into_bytes()
}

fn deep_compact_sequences() -> Vec<u8> {
    format!("{}x\n", "- ".repeat(500_000)).into_bytes()
}

fn deep_flow_mappings() -> Vec<u8> {
    format!("{}{}", "{a: ".repeat(DEPTH), "}".repeat(DEPTH)).into_bytes()
}

fn deep_nesting_inside_a_field() -> Vec<u8> {
    base_with(&format!(
        "  lifecycle:\n    dependsOn: {}x{}\n",
        "[".repeat(DEPTH),
        "]".repeat(DEPTH)
    ))
    .into_bytes()
}

fn one_mebibyte_scalar() -> Vec<u8> {
    base_with(&format!(
        "  dashboard:\n    panels:\n      - title: \"{}\"\n        expr: up\n",
        "x".repeat(1024 * 1024 - BASE.len() - 80)
    ))
    .into_bytes()
}

fn a_huge_image_name() -> Vec<u8> {
    BASE.replace("shop:1.0.0", &"a".repeat(900_000))
        .into_bytes()
}

fn twenty_thousand_env_vars() -> Vec<u8> {
    let many_env: String = (0..20_000).map(|i| format!("      V{i}: x\n")).collect();
    BASE.replace(
        "    port: 8080\n",
        &format!("    port: 8080\n    env:\n{many_env}"),
    )
    .into_bytes()
}

fn alerts_of(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "    - name: Orders{i}\n      metric: orders_total\n      measure: pace\n      window: 5m\n      per: 1h\n      above: {i}\n      labels:\n        reason: \"{}\"\n",
                "r".repeat(200)
            )
        })
        .collect()
}

fn a_hundred_alerts_the_most_allowed() -> Vec<u8> {
    base_with(&format!("  alerts:\n{}", alerts_of(100))).into_bytes()
}

fn twenty_five_hundred_alerts() -> Vec<u8> {
    base_with(&format!("  alerts:\n{}", alerts_of(2_500))).into_bytes()
}

fn twenty_thousand_panels() -> Vec<u8> {
    let many_panels: String = (0..20_000)
        .map(|i| format!("      - title: p{i}\n        expr: up\n"))
        .collect();
    base_with(&format!("  dashboard:\n    panels:\n{many_panels}")).into_bytes()
}

fn two_hundred_and_one_documents() -> Vec<u8> {
    (0..201)
        .map(|i| format!("{}---\n", renamed(&format!("s{i}"))))
        .collect::<String>()
        .into_bytes()
}

fn a_hundred_thousand_empty_documents() -> Vec<u8> {
    "---\n".repeat(100_000).into_bytes()
}

fn a_one_mebibyte_line_of_colons() -> Vec<u8> {
    ":".repeat(1024 * 1024 - 1).into_bytes()
}

fn forty_thousand_aliases_of_a_4k_string() -> Vec<u8> {
    let blob = "x".repeat(4096);
    let refs: String = (0..40_000)
        .map(|i| format!("      V{i}: *blob\n"))
        .collect();
    BASE.replace(
        "    port: 8080\n",
        &format!("    port: 8080\n    command: [&blob \"{blob}\"]\n    env:\n{refs}"),
    )
    .into_bytes()
}

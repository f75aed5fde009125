//! `flowc graph --format mermaid|dot`: snapshots of a flow with every
//! construct, equal diagrams from YAML and DSL, and every flow in `flows/`.

mod cli_support;

use cli_support::{TempDir, fixtures::*, flow_files, flowc, source_of};

/// Draws `text` (written as `name`) in `format` through the binary.
fn draw(name: &str, text: &str, format: &str) -> String {
    let dir = TempDir::new("graph");
    let file = dir.write(name, text);
    let run = flowc(&["graph", &file, "--format", format]);
    run.expect(0);
    run.stdout
}

#[test]
fn mermaid_snapshot() {
    let yaml = draw("g.flow.yaml", GRAPH_YAML, "mermaid");
    assert_eq!(
        yaml,
        draw("g.flow", GRAPH_DSL, "mermaid"),
        "YAML and DSL differ"
    );
    insta::assert_snapshot!("graph_mermaid", yaml);
}

#[test]
fn dot_snapshot() {
    let yaml = draw("g.flow.yaml", GRAPH_YAML, "dot");
    assert_eq!(
        yaml,
        draw("g.flow", GRAPH_DSL, "dot"),
        "YAML and DSL differ"
    );
    insta::assert_snapshot!("graph_dot", yaml);
}

#[test]
fn mermaid_is_the_default_format() {
    let dir = TempDir::new("graph-default");
    let file = dir.write("c.flow.yaml", CLEAN_YAML);
    let run = flowc(&["graph", &file]);
    run.expect(0);
    assert!(run.stdout.starts_with("flowchart TD\n"), "{run:#?}");
    insta::assert_snapshot!("graph_clean_mermaid", run.stdout);
}

#[test]
fn errors_and_bad_arguments() {
    let dir = TempDir::new("graph-err");
    let file = dir.write("e.flow.yaml", ERROR_YAML);
    let run = flowc(&["graph", &file]);
    run.expect(1);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("E0101"), "{run:#?}");
    let ok = dir.write("c.flow.yaml", CLEAN_YAML);
    flowc(&["graph", &ok, "--format", "svg"]).expect(2);
    let txt = dir.write("c.txt", CLEAN_YAML);
    flowc(&["graph", &txt]).expect(2);
}

/// Every flow in `flows/` draws in both formats, with a node per step.
#[test]
fn every_flow_draws() {
    for path in flow_files() {
        let source = source_of(&path);
        let checked = flowc::check(&source);
        let Some(ast) = checked.ast else {
            panic!("{}: {:#?}", path.display(), checked.diagnostics)
        };
        let file = path.to_string_lossy().into_owned();
        let mermaid = flowc(&["graph", &file, "--format", "mermaid"]);
        mermaid.expect(0);
        assert!(mermaid.stdout.starts_with("flowchart TD\n"));
        let dot = flowc(&["graph", &file, "--format", "dot"]);
        dot.expect(0);
        assert!(dot.stdout.starts_with("digraph flow {\n") && dot.stdout.ends_with("}\n"));
        flowc::ast::walk_steps(&ast.steps, &mut |step| {
            let id = &step.id.name;
            assert!(
                mermaid.stdout.contains(id.as_str()),
                "{}: {id}",
                path.display()
            );
            assert!(dot.stdout.contains(id.as_str()), "{}: {id}", path.display());
        });
        assert_eq!(mermaid.stdout, flowc::graph::mermaid(&ast));
    }
}

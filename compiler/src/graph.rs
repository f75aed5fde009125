//! `flowc graph`: the flow as a Mermaid or Graphviz diagram.
//!
//! Both formats are rendered from one small graph model built from the AST:
//! a start node, one node per step (labelled with its id and what it does),
//! sequential edges, `then`/`else` edges of an `if`, case edges of a `switch`
//! labelled with their values, `for_each` bodies as a subgraph (cluster) with
//! a back edge to the loop header, `timeout …` edges from waits to their
//! `on_timeout` step, `goto` edges, and `end`/`fail` as terminal nodes. When
//! the last top-level step falls through, an implicit `end` node closes the
//! flow.
//!
//! The output is deterministic: nodes, clusters and edges come in source
//! order. Node ids are derived from step ids (`s_<id>`, with anything other
//! than ASCII letters, digits and `_` encoded) so that they are valid in both
//! formats; labels are escaped for each format. Rendering never panics, even
//! on an AST with errors (unknown jump targets are left without an edge,
//! duplicate ids get distinct nodes).

use crate::ast::{
    ExprKind, Flow, Schedule, StartKind, Step, StepKind, TimerStep, WaitOn, walk_steps,
};
use crate::syntax::expr::{print_expr, print_template_text};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// The flow as a Mermaid flowchart (`flowchart TD`).
pub fn mermaid(flow: &Flow) -> String {
    Graph::build(flow).mermaid()
}

/// The flow as a Graphviz `digraph`.
pub fn dot(flow: &Flow) -> String {
    Graph::build(flow).dot()
}

// ---------------------------------------------------------------- the model

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The start node.
    Start,
    /// An action, http, set, timer, batch or goto step.
    Step,
    /// A wait (event or signal).
    Wait,
    /// `if` and `switch`.
    Decision,
    /// The header of a `for_each` loop.
    Loop,
    /// `end` and `fail` (and the implicit end).
    Terminal,
}

#[derive(Debug)]
struct Node {
    id: String,
    /// Label lines.
    label: Vec<String>,
    shape: Shape,
}

#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    /// Drawn dashed: timeouts and gotos (control leaves the normal order).
    dashed: bool,
}

/// A member of the root or of a cluster, in source order.
#[derive(Debug, Clone, Copy)]
enum Member {
    Node(usize),
    Cluster(usize),
}

/// A `for_each` body.
#[derive(Debug)]
struct Cluster {
    id: String,
    label: String,
    members: Vec<Member>,
}

/// Where control goes when a block runs out of steps.
#[derive(Debug, Clone)]
struct Cont {
    node: String,
    /// Label of the edge from the block's last step (`next` for a loop body).
    label: Option<&'static str>,
}

#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    clusters: Vec<Cluster>,
    root: Vec<Member>,
    /// Node id of every step, by address (the AST is borrowed while building).
    step_ids: HashMap<*const Step, String>,
    /// Node id of each top-level step id (the first one when duplicated).
    targets: HashMap<String, String>,
}

/// The node id of the start node.
const START: &str = "start";
/// The node id of the implicit end when the flow falls through.
const FINISH: &str = "finish";

impl Graph {
    fn build(flow: &Flow) -> Graph {
        let mut g = Graph::default();
        // Assign every step a unique node id up front, so that jumps can
        // point forward.
        let mut used = HashSet::new();
        walk_steps(&flow.steps, &mut |step| {
            let base = format!("s_{}", encode_id(&step.id.name));
            let mut id = base.clone();
            let mut n = 2;
            while !used.insert(id.clone()) {
                id = format!("{base}_{n}");
                n += 1;
            }
            g.step_ids.insert(std::ptr::from_ref(step), id);
        });
        for step in &flow.steps {
            let id = g.id_of(step);
            g.targets.entry(step.id.name.clone()).or_insert(id);
        }

        g.add_node(None, START.into(), start_label(flow), Shape::Start);
        let finish = Cont {
            node: FINISH.into(),
            label: None,
        };
        let entry = g.entry(&flow.steps, &finish);
        g.edge(START, &entry, None, false);
        g.block(&flow.steps, &finish, None);
        if g.edges.iter().any(|e| e.to == FINISH) {
            g.add_node(None, FINISH.into(), vec!["end".into()], Shape::Terminal);
        }
        g
    }

    fn id_of(&self, step: &Step) -> String {
        self.step_ids
            .get(&std::ptr::from_ref(step))
            .cloned()
            .unwrap_or_else(|| format!("s_{}", encode_id(&step.id.name)))
    }

    fn add_node(&mut self, cluster: Option<usize>, id: String, label: Vec<String>, shape: Shape) {
        self.nodes.push(Node { id, label, shape });
        let member = Member::Node(self.nodes.len() - 1);
        match cluster {
            Some(c) => self.clusters[c].members.push(member),
            None => self.root.push(member),
        }
    }

    fn edge(&mut self, from: &str, to: &str, label: Option<String>, dashed: bool) {
        self.edges.push(Edge {
            from: from.into(),
            to: to.into(),
            label,
            dashed,
        });
    }

    /// The node id control enters a block at (`cont` itself when the block
    /// is empty).
    fn entry(&self, steps: &[Step], cont: &Cont) -> String {
        steps
            .first()
            .map_or_else(|| cont.node.clone(), |s| self.id_of(s))
    }

    /// Emits a block of steps that continues at `cont`.
    fn block(&mut self, steps: &[Step], cont: &Cont, cluster: Option<usize>) {
        let ids: Vec<String> = steps.iter().map(|s| self.id_of(s)).collect();
        for (i, step) in steps.iter().enumerate() {
            let next = match ids.get(i + 1) {
                Some(id) => Cont {
                    node: id.clone(),
                    label: None,
                },
                None => cont.clone(),
            };
            self.step(step, &ids[i], &next, cluster);
        }
    }

    /// Emits the edge into a nested block, then the block.
    fn branch(
        &mut self,
        from: &str,
        label: String,
        steps: &[Step],
        cont: &Cont,
        cluster: Option<usize>,
    ) {
        let entry = self.entry(steps, cont);
        self.edge(from, &entry, Some(label), false);
        self.block(steps, cont, cluster);
    }

    /// Emits one step (and its nested blocks) continuing at `next`.
    fn step(&mut self, step: &Step, id: &str, next: &Cont, cluster: Option<usize>) {
        let name = step.id.name.clone();
        let sequential =
            |g: &mut Graph| g.edge(id, &next.node, next.label.map(str::to_owned), false);
        match &step.kind {
            StepKind::Action(a) => {
                self.add_node(cluster, id.into(), vec![name, a.action.text()], Shape::Step);
                sequential(self);
            }
            StepKind::Http(h) => {
                let what = format!("{} {}", h.method.name, text_of(&h.url));
                self.add_node(cluster, id.into(), vec![name, what], Shape::Step);
                sequential(self);
            }
            StepKind::Batch(b) => {
                let what = format!("batch {}", b.action.text());
                self.add_node(cluster, id.into(), vec![name, what], Shape::Step);
                sequential(self);
            }
            StepKind::Set(assigns) => {
                let targets: Vec<&str> = assigns.iter().map(|a| a.target.name.as_str()).collect();
                let what = format!("set {}", targets.join(", "));
                self.add_node(
                    cluster,
                    id.into(),
                    vec![name, what.trim_end().into()],
                    Shape::Step,
                );
                sequential(self);
            }
            StepKind::Timer(t) => {
                let what = match t {
                    TimerStep::Until(e) => format!("timer until {}", print_expr(e)),
                    TimerStep::For(e) => format!("timer for {}", print_expr(e)),
                };
                self.add_node(cluster, id.into(), vec![name, what], Shape::Wait);
                sequential(self);
            }
            StepKind::Wait(w) => {
                let what = match &w.on {
                    WaitOn::Event { event, .. } => format!("wait event {}", event.text()),
                    WaitOn::Signal { name, .. } => format!("wait signal {}", name.name),
                };
                self.add_node(cluster, id.into(), vec![name, what], Shape::Wait);
                sequential(self);
                let target = w
                    .on_timeout
                    .as_ref()
                    .and_then(|t| self.targets.get(&t.name).cloned());
                if let Some(target) = target {
                    let label = match &w.timeout {
                        Some(t) => format!("timeout {}", print_expr(t)),
                        None => "timeout".into(),
                    };
                    self.edge(id, &target, Some(label), true);
                }
            }
            StepKind::If(s) => {
                let what = format!("if {}", print_expr(&s.condition));
                self.add_node(cluster, id.into(), vec![name, what], Shape::Decision);
                self.branch(id, "then".into(), &s.then, next, cluster);
                self.branch(id, "else".into(), &s.otherwise, next, cluster);
            }
            StepKind::Switch(s) => {
                let what = format!("switch {}", print_expr(&s.on));
                self.add_node(cluster, id.into(), vec![name, what], Shape::Decision);
                for case in &s.cases {
                    let values: Vec<String> = case.values.iter().map(text_of).collect();
                    self.branch(id, values.join(", "), &case.steps, next, cluster);
                }
                let default = s.default.as_deref().unwrap_or_default();
                self.branch(id, "default".into(), default, next, cluster);
            }
            StepKind::ForEach(f) => {
                let what = format!("for_each {} in {}", f.var.name, print_expr(&f.over));
                self.clusters.push(Cluster {
                    id: format!("loop_{id}"),
                    label: what.clone(),
                    members: Vec::new(),
                });
                let inner = self.clusters.len() - 1;
                match cluster {
                    Some(c) => self.clusters[c].members.push(Member::Cluster(inner)),
                    None => self.root.push(Member::Cluster(inner)),
                }
                self.add_node(Some(inner), id.into(), vec![name, what], Shape::Loop);
                let back = Cont {
                    node: id.into(),
                    label: Some("next"),
                };
                let each = format!("each {}", f.var.name);
                self.branch(id, each, &f.steps, &back, Some(inner));
                self.edge(id, &next.node, Some("done".into()), false);
            }
            StepKind::Fail(_) => {
                self.add_node(
                    cluster,
                    id.into(),
                    vec![name, "fail".into()],
                    Shape::Terminal,
                );
            }
            StepKind::End(outcome) => {
                let outcome = outcome.as_ref().map_or("completed", |o| o.name.as_str());
                let what = format!("end {outcome}");
                self.add_node(cluster, id.into(), vec![name, what], Shape::Terminal);
            }
            StepKind::Goto(target) => {
                let what = format!("goto {}", target.name);
                self.add_node(cluster, id.into(), vec![name, what], Shape::Step);
                if let Some(to) = self.targets.get(&target.name).cloned() {
                    self.edge(id, &to, Some("goto".into()), true);
                }
            }
        }
    }

    // ------------------------------------------------------------ Mermaid

    fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        self.mermaid_members(&mut out, &self.root, 1);
        for e in &self.edges {
            let arrow = if e.dashed { "-.->" } else { "-->" };
            let _ = match &e.label {
                Some(l) => writeln!(
                    out,
                    "    {} {arrow}|\"{}\"| {}",
                    e.from,
                    mermaid_escape(l),
                    e.to
                ),
                None => writeln!(out, "    {} {arrow} {}", e.from, e.to),
            };
        }
        out
    }

    fn mermaid_members(&self, out: &mut String, members: &[Member], depth: usize) {
        let indent = "    ".repeat(depth);
        for m in members {
            match *m {
                Member::Node(i) => {
                    let n = &self.nodes[i];
                    let text = n
                        .label
                        .iter()
                        .map(|l| mermaid_escape(l))
                        .collect::<Vec<_>>()
                        .join("<br/>");
                    let (open, close) = match n.shape {
                        Shape::Start => ("((", "))"),
                        Shape::Step => ("[", "]"),
                        Shape::Wait => ("(", ")"),
                        Shape::Decision => ("{", "}"),
                        Shape::Loop => ("{{", "}}"),
                        Shape::Terminal => ("([", "])"),
                    };
                    let _ = writeln!(out, "{indent}{}{open}\"{text}\"{close}", n.id);
                }
                Member::Cluster(c) => {
                    let cluster = &self.clusters[c];
                    let _ = writeln!(
                        out,
                        "{indent}subgraph {}[\"{}\"]",
                        cluster.id,
                        mermaid_escape(&cluster.label)
                    );
                    self.mermaid_members(out, &cluster.members, depth + 1);
                    let _ = writeln!(out, "{indent}end");
                }
            }
        }
    }

    // ------------------------------------------------------------ Graphviz

    fn dot(&self) -> String {
        let mut out = String::from("digraph flow {\n");
        out.push_str("    graph [fontname=\"Helvetica\"];\n");
        out.push_str("    node [shape=box, fontname=\"Helvetica\"];\n");
        out.push_str("    edge [fontname=\"Helvetica\"];\n");
        self.dot_members(&mut out, &self.root, 1);
        for e in &self.edges {
            let mut attrs = Vec::new();
            if let Some(l) = &e.label {
                attrs.push(format!("label={}", dot_quote(l)));
            }
            if e.dashed {
                attrs.push("style=dashed".into());
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            let _ = writeln!(
                out,
                "    {} -> {}{attrs};",
                dot_quote(&e.from),
                dot_quote(&e.to)
            );
        }
        out.push_str("}\n");
        out
    }

    fn dot_members(&self, out: &mut String, members: &[Member], depth: usize) {
        let indent = "    ".repeat(depth);
        for m in members {
            match *m {
                Member::Node(i) => {
                    let n = &self.nodes[i];
                    let shape = match n.shape {
                        Shape::Start => "shape=oval, style=bold",
                        Shape::Step => "shape=box",
                        Shape::Wait => "shape=ellipse",
                        Shape::Decision => "shape=diamond",
                        Shape::Loop => "shape=hexagon",
                        Shape::Terminal => "shape=box, style=\"rounded,bold\"",
                    };
                    let _ = writeln!(
                        out,
                        "{indent}{} [label={}, {shape}];",
                        dot_quote(&n.id),
                        dot_quote(&n.label.join("\n"))
                    );
                }
                Member::Cluster(c) => {
                    let cluster = &self.clusters[c];
                    let _ = writeln!(
                        out,
                        "{indent}subgraph {} {{",
                        dot_quote(&format!("cluster_{}", cluster.id))
                    );
                    let _ = writeln!(out, "{indent}    label={};", dot_quote(&cluster.label));
                    self.dot_members(out, &cluster.members, depth + 1);
                    let _ = writeln!(out, "{indent}}}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- labels

/// The start node's label: `start` and one line per start.
fn start_label(flow: &Flow) -> Vec<String> {
    let mut label = vec!["start".to_owned()];
    for start in &flow.start {
        label.push(match &start.kind {
            StartKind::Input => "input".into(),
            StartKind::Schedule(s) => {
                let mut l = match &s.schedule {
                    Schedule::Cron(c) => format!("cron {}", c.value),
                    Schedule::Every(e) => format!("every {}", print_expr(e)),
                };
                if let Some(tz) = &s.timezone {
                    l.push_str(&format!(" {}", tz.value));
                }
                l
            }
            StartKind::Event { event, every, .. } => match every {
                Some(e) => format!("event {} every {}", event.text(), print_expr(e)),
                None => format!("event {}", event.text()),
            },
        });
    }
    label
}

/// A string or template as its plain text; any other expression as source.
fn text_of(e: &crate::ast::Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => s.clone(),
        ExprKind::Template(parts) => print_template_text(parts),
        _ => print_expr(e),
    }
}

/// Encodes a step id into `[A-Za-z0-9_]`: any other character becomes
/// `_xHEX_`. (A collision with an id that spells out such an escape is
/// resolved by the numbered suffixes of [`Graph::build`].)
fn encode_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            let _ = write!(out, "_x{:x}_", c as u32);
        }
    }
    out
}

/// Escapes text inside a quoted Mermaid label (`"…"`): quotes, `#`, angle
/// brackets and pipes become entity codes; line breaks become spaces.
fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Graphviz double-quoted string: `"` and `\` escaped, newlines as `\n`.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Ident, IfStep};
    use crate::span::Span;

    fn ident(name: &str) -> Ident {
        Ident {
            name: name.into(),
            span: Span::default(),
        }
    }

    fn step(id: &str, kind: StepKind) -> Step {
        Step {
            id: ident(id),
            kind,
            span: Span::default(),
        }
    }

    fn flow(steps: Vec<Step>) -> Flow {
        Flow {
            name: ident("f"),
            description: None,
            data: Vec::new(),
            connections: Vec::new(),
            start: Vec::new(),
            steps,
            span: Span::default(),
        }
    }

    #[test]
    fn duplicate_ids_and_unknown_targets_do_not_break_the_diagram() {
        let f = flow(vec![
            step("a", StepKind::Set(Vec::new())),
            step("a", StepKind::Goto(ident("nowhere"))),
            step("end", StepKind::End(None)),
        ]);
        let m = mermaid(&f);
        assert!(m.contains("    s_a[\"a<br/>set\"]"), "{m}");
        assert!(m.contains("    s_a_2[\"a<br/>goto nowhere\"]"), "{m}");
        // A step named `end` is no Mermaid keyword once prefixed.
        assert!(m.contains("    s_end([\"end<br/>end completed\"])"), "{m}");
        assert!(!m.contains("-.->"), "no edge to an unknown target: {m}");
        let d = dot(&f);
        assert!(d.contains("\"s_a_2\" [label=\"a\\ngoto nowhere\""), "{d}");
    }

    #[test]
    fn an_empty_flow_goes_from_start_to_the_implicit_end() {
        let m = mermaid(&flow(Vec::new()));
        assert_eq!(
            m,
            "flowchart TD\n    start((\"start\"))\n    finish([\"end\"])\n    start --> finish\n"
        );
    }

    #[test]
    fn empty_branches_go_straight_on() {
        let cond = crate::ast::Expr {
            kind: ExprKind::Bool(true),
            span: Span::default(),
        };
        let f = flow(vec![
            step(
                "check",
                StepKind::If(IfStep {
                    condition: cond,
                    then: Vec::new(),
                    otherwise: Vec::new(),
                }),
            ),
            step("done", StepKind::End(None)),
        ]);
        let m = mermaid(&f);
        assert!(m.contains("s_check -->|\"then\"| s_done"), "{m}");
        assert!(m.contains("s_check -->|\"else\"| s_done"), "{m}");
        assert!(!m.contains("finish"), "{m}");
    }

    #[test]
    fn ids_are_encoded_and_labels_escaped() {
        assert_eq!(encode_id("send_invoice"), "send_invoice");
        assert_eq!(encode_id("a-b c"), "a_x2d_b_x20_c");
        assert_eq!(
            mermaid_escape(r#"say "hi" | <b> #1"#),
            "say #quot;hi#quot; #124; #lt;b#gt; #35;1"
        );
        assert_eq!(dot_quote("a \"b\"\nc\\"), r#""a \"b\"\nc\\""#);
    }
}

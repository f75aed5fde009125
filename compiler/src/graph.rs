//! `flowc graph`: the flow as a Mermaid or Graphviz diagram.

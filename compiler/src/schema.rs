//! `flowc schema`: a JSON Schema of the YAML format, for editors.

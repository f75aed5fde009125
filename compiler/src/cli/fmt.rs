//! `flowc fmt FILE --to yaml|dsl [--write]`: converts a flow between the two
//! syntaxes (parse with the file's syntax, print with the other's printer).
//!
//! The input must check without errors. The converted text is checked again
//! before it is shown or written: it must be clean and lower to the same IR
//! as the input, so a printer bug can never silently change a flow.

use super::Exit;
use super::files;
use super::output::{self, Stream};
use flowc::{Source, Syntax};
use std::path::PathBuf;

/// The syntax to convert to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// `*.flow.yaml`
    Yaml,
    /// `*.flow`
    Dsl,
}

impl From<Target> for Syntax {
    fn from(t: Target) -> Syntax {
        match t {
            Target::Yaml => Syntax::Yaml,
            Target::Dsl => Syntax::Dsl,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file to convert (*.flow.yaml, *.flow.yml or *.flow).
    file: PathBuf,
    /// The syntax to convert to.
    #[arg(long, value_enum)]
    to: Target,
    /// Write the result beside the input (x.flow.yaml <-> x.flow) instead of
    /// printing it; the file is rewritten only when its content changes.
    #[arg(long)]
    write: bool,
}

/// Prints a flow with the printer of `syntax`.
pub fn print(flow: &flowc::ast::Flow, syntax: Syntax) -> String {
    match syntax {
        Syntax::Yaml => flowc::syntax::yaml::print(flow),
        Syntax::Dsl => flowc::syntax::dsl::print(flow),
    }
}

/// Runs `flowc fmt`.
pub fn run(args: &Args) -> Exit {
    let (source, checked) = match files::load_and_check(&args.file) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    if checked.has_errors() {
        output::eprint_line(&format!(
            "error: `{}` has errors; not converted",
            source.name
        ));
        return Exit::FlowErrors;
    }
    let Some(ast) = &checked.ast else {
        output::eprint_line(&format!("error: `{}` could not be parsed", source.name));
        return Exit::FlowErrors;
    };

    let to = Syntax::from(args.to);
    let target = files::converted_path(&args.file, to);
    let text = print(ast, to);

    // The converted flow must check clean and mean the same thing.
    let converted = Source::new(target.to_string_lossy(), text, to);
    let again = flowc::check(&converted);
    if again.has_errors() || again.ir != checked.ir {
        files::report(&converted, &again.diagnostics);
        output::eprint_line(&format!(
            "error: internal error: the converted `{}` does not lower to the same IR as `{}`; \
             nothing was written (please report this with the input file)",
            converted.name, source.name
        ));
        return Exit::FlowErrors;
    }

    if !args.write {
        output::write(Stream::Stdout, &converted.text);
        return Exit::Clean;
    }
    if std::fs::read(&target).is_ok_and(|old| old == converted.text.as_bytes()) {
        output::eprint_line(&format!("`{}` is unchanged", target.display()));
        return Exit::Clean;
    }
    match std::fs::write(&target, converted.text.as_bytes()) {
        Ok(()) => {
            output::eprint_line(&format!("wrote `{}`", target.display()));
            Exit::Clean
        }
        Err(e) => {
            output::eprint_line(&format!(
                "error: cannot write `{}`: {}",
                target.display(),
                files::describe(&e)
            ));
            Exit::Usage
        }
    }
}

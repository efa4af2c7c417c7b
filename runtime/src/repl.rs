//! The interactive REPL: `rbt` with no program reads one program at a prompt, runs it until
//! Ctrl-C or its own exit(), prints its maps, and asks for the next. Ctrl-D at the prompt ends.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use rbt_compiler::diag::{self, Diagnostic};
use rbt_compiler::sema::Options as CompileOptions;
use rbt_compiler::syntax;

use crate::session;
use crate::tracefs::TraceFs;

const PROMPT: &str = "rbt> ";
/// Shown while the program typed so far is incomplete (an open brace, a dangling operator).
const CONTINUATION: &str = "...> ";
/// The name diagnostics give the program typed at the prompt.
const FILE_NAME: &str = "repl";

pub fn run(kernel: &TraceFs, opts: &session::Options) -> Result<i32, String> {
    let mut editor =
        DefaultEditor::new().map_err(|e| format!("rbt: cannot open the terminal: {e}"))?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    ignore_stray_interrupts();
    let catalogue = rbt_stdlib::catalogue();
    let options = CompileOptions::default();
    let color = std::io::stderr().is_terminal();

    while let Some(source) = read_program(&mut editor)? {
        let _ = editor.add_history_entry(source.as_str());
        if let Some(path) = &history {
            // Saved after every program so a crash or a kill keeps what was typed.
            let _ = editor.save_history(path);
        }
        let show = |ds: &[Diagnostic]| eprint!("{}", diag::render(ds, FILE_NAME, &source, color));
        let compiled = match rbt_compiler::compile(&source, &catalogue, kernel, &options) {
            Ok(c) => c,
            Err(errors) => {
                show(&errors);
                continue;
            }
        };
        show(&compiled.warnings);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("rbt needs root to load eBPF programs: run it with sudo");
            continue;
        }
        if let Err(failure) = session::run(&compiled, kernel, opts) {
            crate::report_failure(&failure, show);
        }
    }
    Ok(0)
}

/// Reads lines until they make a complete program; None at Ctrl-D on an empty prompt.
/// Ctrl-C drops whatever was typed, as a shell does.
fn read_program(editor: &mut DefaultEditor) -> Result<Option<String>, String> {
    let mut text = String::new();
    loop {
        let prompt = if text.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if text.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
                if !syntax::is_incomplete(&text) {
                    return Ok(Some(text));
                }
            }
            Err(ReadlineError::Interrupted) => text.clear(),
            // Ctrl-D in the middle of a program: compiling it says what is missing.
            Err(ReadlineError::Eof) if !text.is_empty() => return Ok(Some(text)),
            Err(ReadlineError::Eof) => return Ok(None),
            Err(e) => return Err(format!("rbt: cannot read the terminal: {e}")),
        }
    }
}

/// `$XDG_STATE_HOME/rbt/history` when XDG_STATE_HOME is set, else `~/.rbt_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        let dir = PathBuf::from(state).join("rbt");
        std::fs::create_dir_all(&dir).ok()?;
        return Some(dir.join("history"));
    }
    let home = std::env::var_os("HOME").filter(|s| !s.is_empty())?;
    Some(PathBuf::from(home).join(".rbt_history"))
}

/// Between programs the terminal is in cooked mode (while compiling and loading), so Ctrl-C
/// there is a SIGINT: it must not end the REPL. A handler that does nothing (rather than
/// SIG_IGN, which would discard the signal) still lets a running program's signalfd see it.
fn ignore_stray_interrupts() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: installing a handler that does nothing, from a zeroed sigaction.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = nothing as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

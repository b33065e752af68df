//! The Python side: a virtualenv with aiohttp and aiodns, made on first use.
//!
//! The venv lives in `target/census-venv`, so `cargo clean` removes it and nothing is
//! installed outside the project. Debian ships `venv` and `pip` as separate packages
//! (`python3-venv`, `python3-pip`); `scripts/census` installs them when missing. If
//! Python cannot be set up, the aiohttp rows say why instead of stopping the census.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Python {
    /// The venv's interpreter.
    pub bin: PathBuf,
    /// `Python 3.x.y, aiohttp a.b.c, aiodns …, pycares …, c-ares …, ssl: OpenSSL …`.
    pub versions: String,
}

/// Makes (or reuses) the venv and installs the packages. `Err` says why it could not.
pub fn prepare(venv: &Path) -> Result<Python, String> {
    if Command::new("python3").arg("--version").output().is_err() {
        return Err("python3 is not installed".into());
    }
    let bin = venv.join("bin/python");
    if !bin.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(venv), "python3 -m venv")?;
    }
    let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "aiohttp", "aiodns"];
    run(Command::new(&bin).args(pip), "pip install aiohttp aiodns")?;
    let versions = run(Command::new(&bin).args(["-c", VERSIONS]), "reading the Python package versions")?;
    Ok(Python { bin, versions: versions.trim().to_owned() })
}

const VERSIONS: &str = r#"import platform, ssl, aiohttp, aiodns, pycares
print(f'Python {platform.python_version()}, aiohttp {aiohttp.__version__}, '
      f'aiodns {aiodns.__version__}, pycares {pycares.__version__}, '
      f'c-ares {getattr(pycares, "ARES_VERSION", "?")}, ssl: {ssl.OPENSSL_VERSION}')"#;

/// Runs a setup step; its stdout, or a one-line reason it failed.
fn run(command: &mut Command, what: &str) -> Result<String, String> {
    match command.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            Err(format!("{what} failed ({}): {last}", out.status))
        }
        Err(e) => Err(format!("{what}: {e}")),
    }
}

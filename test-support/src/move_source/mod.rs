//! Module-level `const` declarations of a Move package, read from its
//! sources: `const NAME: TYPE = VALUE;` with byte strings (`x"…"`, `b"…"`),
//! integer literals (decimal or hex, `_` separators, type suffixes) and
//! booleans as typed values; anything else is kept as its source text.
//!
//! The parser is deliberately strict where the Move compiler is: an odd
//! number of hex digits is an error here too, so a constant that would not
//! compile cannot pass a Rust test either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod literal;

use literal::parse_value;

/// What can go wrong reading a package's constants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `.move` file declares no module.
    #[error("{path}: no `module address::name` declaration")]
    NoModule {
        /// The file.
        path: PathBuf,
    },
    /// Two modules of one package have the same name.
    #[error("module {module} is declared in {first} and {second}")]
    DuplicateModule {
        /// The module's name.
        module: String,
        /// Where it was first declared.
        first: PathBuf,
        /// Where it was declared again.
        second: PathBuf,
    },
    /// A `const` declaration that does not parse.
    #[error("{path}:{line}: malformed constant: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line where the declaration starts.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// No module of that name in the package.
    #[error("the package has no module {module}")]
    UnknownModule {
        /// The module asked for.
        module: String,
    },
    /// No constant of that name in the module.
    #[error("module {module} has no constant {name}")]
    UnknownConstant {
        /// The module.
        module: String,
        /// The constant asked for.
        name: String,
    },
    /// The constant is not of the kind asked for.
    #[error("{module}::{name} is {found}, not {wanted}")]
    WrongKind {
        /// The module.
        module: String,
        /// The constant.
        name: String,
        /// The kind asked for.
        wanted: &'static str,
        /// What it is.
        found: String,
    },
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A constant's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `x"…"` or `b"…"`.
    Bytes(Vec<u8>),
    /// An integer literal of any width (u256 literals beyond u128 are `Other`).
    Integer(u128),
    /// `true` or `false`.
    Bool(bool),
    /// Any other expression, as written (whitespace folded).
    Other(String),
}

/// One `const` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    /// Its declared type, as written (`u64`, `vector<u8>`).
    pub ty: String,
    /// Its value.
    pub value: Value,
    /// The 1-based line of the declaration.
    pub line: usize,
}

/// One module's constants.
#[derive(Debug, Clone)]
pub struct MoveModule {
    /// The module's name (without the address).
    pub name: String,
    /// The file that declares it.
    pub path: PathBuf,
    /// Its constants by name, in name order.
    pub constants: BTreeMap<String, Constant>,
}

/// Every module of a package (`sources/` and `tests/`).
#[derive(Debug, Clone)]
pub struct MovePackage {
    modules: BTreeMap<String, MoveModule>,
}

impl MovePackage {
    /// Reads every `.move` file under `dir/sources` and `dir/tests`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut modules: BTreeMap<String, MoveModule> = BTreeMap::new();
        for sub in ["sources", "tests"] {
            let folder = dir.join(sub);
            if !folder.exists() {
                continue;
            }
            for path in move_files(&folder)? {
                let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let module = parse_module(&path, &text)?;
                if let Some(first) = modules.get(&module.name) {
                    return Err(Error::DuplicateModule {
                        module: module.name,
                        first: first.path.clone(),
                        second: path,
                    });
                }
                modules.insert(module.name.clone(), module);
            }
        }
        Ok(Self { modules })
    }

    /// The project's own package, `contracts/` at the workspace root.
    pub fn contracts() -> Result<Self> {
        Self::load(&crate::contracts_dir())
    }

    /// Every module, in name order.
    pub fn modules(&self) -> impl Iterator<Item = &MoveModule> {
        self.modules.values()
    }

    /// The module `name`.
    pub fn module(&self, name: &str) -> Result<&MoveModule> {
        self.modules.get(name).ok_or_else(|| Error::UnknownModule {
            module: name.to_owned(),
        })
    }

    /// The constant `module::name`.
    pub fn constant(&self, module: &str, name: &str) -> Result<&Constant> {
        self.module(module)?
            .constants
            .get(name)
            .ok_or_else(|| Error::UnknownConstant {
                module: module.to_owned(),
                name: name.to_owned(),
            })
    }

    /// The byte-string constant `module::name`.
    pub fn bytes(&self, module: &str, name: &str) -> Result<Vec<u8>> {
        match &self.constant(module, name)?.value {
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(wrong_kind(module, name, "a byte string", other)),
        }
    }

    /// The integer constant `module::name`.
    pub fn integer(&self, module: &str, name: &str) -> Result<u128> {
        match &self.constant(module, name)?.value {
            Value::Integer(v) => Ok(*v),
            other => Err(wrong_kind(module, name, "an integer", other)),
        }
    }
}

impl MoveModule {
    /// The module's integer constants whose names satisfy `keep`, by name.
    pub fn integers(&self, keep: impl Fn(&str) -> bool) -> BTreeMap<String, u128> {
        self.constants
            .iter()
            .filter(|(name, _)| keep(name))
            .filter_map(|(name, c)| match c.value {
                Value::Integer(v) => Some((name.clone(), v)),
                _ => None,
            })
            .collect()
    }
}

fn wrong_kind(module: &str, name: &str, wanted: &'static str, found: &Value) -> Error {
    Error::WrongKind {
        module: module.to_owned(),
        name: name.to_owned(),
        wanted,
        found: format!("{found:?}"),
    }
}

fn move_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            out.extend(move_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "move") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Source text with comments blanked out (newlines kept, so line numbers
/// hold), string literals left intact.
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            in_string = c != b'"';
            i += 1;
        } else if c == b'"' {
            in_string = true;
            out.push('"');
            i += 1;
        } else if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            out.extend(
                text[i..end]
                    .chars()
                    .map(|ch| if ch == '\n' { '\n' } else { ' ' }),
            );
            i = end;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn parse_module(path: &Path, text: &str) -> Result<MoveModule> {
    // Move sources are ASCII outside comments and strings; anything else is
    // blanked by `strip_comments` or survives only inside byte strings.
    let clean = strip_comments(text);
    let name = clean
        .lines()
        .find_map(|line| {
            let rest = line.trim_start().strip_prefix("module ")?;
            let (_, after) = rest.split_once("::")?;
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            Some(after[..end].to_owned())
        })
        .ok_or_else(|| Error::NoModule {
            path: path.to_path_buf(),
        })?;

    let mut constants = BTreeMap::new();
    let mut offset = 0;
    for (index, line) in clean.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        if !line.trim_start().starts_with("const ") {
            continue;
        }
        let line_no = index + 1;
        let malformed = |reason: String| Error::Malformed {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        let decl_start = start + (line.len() - line.trim_start().len()) + "const ".len();
        let decl_end = statement_end(&clean[decl_start..])
            .ok_or_else(|| malformed("no terminating `;`".into()))?;
        let decl = &clean[decl_start..decl_start + decl_end];
        let (name, rest) = decl
            .split_once(':')
            .ok_or_else(|| malformed("no `:` after the name".into()))?;
        let (ty, value) = rest
            .split_once('=')
            .ok_or_else(|| malformed("no `=`".into()))?;
        let name = name.trim().to_owned();
        let value = parse_value(value.trim()).map_err(malformed)?;
        let constant = Constant {
            ty: fold_whitespace(ty),
            value,
            line: line_no,
        };
        if constants.insert(name.clone(), constant).is_some() {
            return Err(malformed(format!("{name} is declared twice")));
        }
    }
    Ok(MoveModule {
        name,
        path: path.to_path_buf(),
        constants,
    })
}

/// The offset of the `;` that ends a declaration, skipping string literals.
fn statement_end(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ';' {
            return Some(i);
        }
    }
    None
}

fn fold_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Result<MoveModule> {
        parse_module(Path::new("m.move"), text)
    }

    #[test]
    fn reads_every_kind_of_constant() {
        let m = module(
            "// Copyright\n#[test_only]\nmodule vramhub::demo;\n\
             /// Doc.\nconst EOne: u64 = 1;\nconst BIG: u64 = 70_000_000_000u64;\n\
             const HEXNUM: u8 = 0xff;\n\
             const HASH: vector<u8> =\n    x\"0a0B\"; // trailing\n\
             const NAME: vector<u8> = b\"a;b\\\"c\\x41\";\n\
             const FLAG: bool = true;\n\
             const ADDR: address = @0xad;\n\
             /* const HIDDEN: u64 = 3; */\n\
             fun f() { let x = 1; }\n",
        )
        .unwrap();
        assert_eq!(m.name, "demo");
        let value = |n: &str| m.constants[n].value.clone();
        assert_eq!(value("EOne"), Value::Integer(1));
        assert_eq!(value("BIG"), Value::Integer(70_000_000_000));
        assert_eq!(value("HEXNUM"), Value::Integer(255));
        assert_eq!(value("HASH"), Value::Bytes(vec![0x0a, 0x0b]));
        assert_eq!(value("NAME"), Value::Bytes(b"a;b\"cA".to_vec()));
        assert_eq!(value("FLAG"), Value::Bool(true));
        assert_eq!(value("ADDR"), Value::Other("@0xad".into()));
        assert_eq!(m.constants["HASH"].ty, "vector<u8>");
        assert_eq!(m.constants["HASH"].line, 8);
        assert!(!m.constants.contains_key("HIDDEN"));
        assert_eq!(m.integers(|n| n.starts_with('E')).len(), 1);
    }

    #[test]
    fn an_odd_hex_string_is_refused_as_the_compiler_refuses_it() {
        let err = module("module a::b;\nconst H: vector<u8> = x\"abc\";\n").unwrap_err();
        assert!(
            matches!(err, Error::Malformed { line: 2, ref reason, .. } if reason.contains("odd")),
            "{err}"
        );
    }

    #[test]
    fn malformed_declarations_are_errors() {
        for text in [
            "module a::b;\nconst H: u64 = 1\n",
            "module a::b;\nconst H u64 = 1;\n",
            "module a::b;\nconst H: u64;\n",
            "module a::b;\nconst H: u64 = 99999999999999999999999999999999999999999;\n",
            "module a::b;\nconst H: u64 = 1;\nconst H: u64 = 2;\n",
        ] {
            assert!(
                matches!(module(text), Err(Error::Malformed { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            module("const H: u64 = 1;\n"),
            Err(Error::NoModule { .. })
        ));
    }

    #[test]
    fn the_project_package_loads() {
        let package = MovePackage::contracts().unwrap();
        assert!(package.module("score_ledger").is_ok());
        assert!(matches!(
            package.integer("score_ledger", "NO_SUCH"),
            Err(Error::UnknownConstant { .. })
        ));
        assert!(matches!(
            package.module("nope"),
            Err(Error::UnknownModule { .. })
        ));
    }
}

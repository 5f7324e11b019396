//! sh words, the one tokenizer for them: the plain assignments of a file that
//! an init script sources (`/etc/default/docker`), the field splitting of an
//! unquoted `$VAR` (how that script hands `$DOCKER_OPTS` to dockerd), and the
//! shell-quoted words of `DIND_DOCKERD_ARGS`.
//!
//! Quoting follows sh: single quotes keep everything (backslashes too); in
//! double quotes a backslash escapes only `$` `` ` `` `"` `\` and newline;
//! outside quotes it escapes any character, and backslash-newline joins lines.
//! Field splitting does none of that: Debian's /etc/init.d/docker runs
//! `dockerd … $DOCKER_OPTS`, so the value is split on blanks and nothing else
//! (`DOCKER_OPTS='--label=a\b'` gives dockerd `--label=a\b`; quotes inside the
//! value stay). Pathname expansion of the fields is not modelled.
//!
//! Blanks here are all whitespace, a little wider than sh's default IFS (space,
//! tab, newline), so a CR of a CRLF file never ends up inside a word.

use std::collections::BTreeMap;

/// A quote left open at the end of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenQuote {
    /// `'…` never closed.
    Single,
    /// `"…` never closed.
    Double,
}

impl OpenQuote {
    /// "single" or "double", for messages.
    pub fn name(self) -> &'static str {
        match self {
            OpenQuote::Single => "single",
            OpenQuote::Double => "double",
        }
    }
}

/// A plain `NAME=value` command of a sourced file, its value quote-removed and expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Variable name.
    pub name: String,
    /// Value as the shell stores it.
    pub value: String,
    /// 1-based line the assignment starts on.
    pub line: usize,
}

/// An assignment whose value never closes a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unterminated {
    /// Variable being assigned.
    pub name: String,
    /// Line the assignment starts on.
    pub line: usize,
    /// Which quote is open.
    pub quote: OpenQuote,
}

/// The assignments of a file sourced by sh, in order, as the shell would
/// perform them: comments, `export NAME=…`, `;`, quotes, `$NAME` / `${NAME}` of
/// earlier assignments (unset: empty). Other commands are skipped.
pub fn assignments(text: &str) -> Result<Vec<Assignment>, Unterminated> {
    let chars: Vec<char> = text.chars().collect();
    let mut sc = Scanner {
        chars: &chars,
        i: 0,
        line: 1,
    };
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut found = Vec::new();
    loop {
        while let Some(c) = sc.peek() {
            if c == '\n' || c == ';' || c.is_whitespace() {
                sc.bump();
            } else {
                break;
            }
        }
        let Some(c) = sc.peek() else { break };
        if c == '#' {
            sc.skip_line();
            continue;
        }
        let line = sc.line;
        let mut name = sc.name();
        if name == "export" && sc.peek().is_some_and(|c| c == ' ' || c == '\t') {
            while sc.peek().is_some_and(|c| c == ' ' || c == '\t') {
                sc.bump();
            }
            name = sc.name();
        }
        if !name.is_empty() && sc.peek() == Some('=') {
            sc.bump();
            let value = match sc.word(Some(&vars)) {
                Ok(v) => v,
                Err(quote) => return Err(Unterminated { name, line, quote }),
            };
            vars.insert(name.clone(), value.clone());
            found.push(Assignment { name, value, line });
            while sc.peek().is_some_and(|c| c == ' ' || c == '\t') {
                sc.bump();
            }
            if sc.peek() == Some(';') {
                continue;
            }
        }
        sc.skip_line();
    }
    Ok(found)
}

/// The fields of an unquoted `$VAR` expansion: `value` split on blanks, nothing else.
pub fn fields(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

/// Shell-quoted words (`DIND_DOCKERD_ARGS`): sh quoting as above, split on
/// unquoted blanks; `$` and `;` are plain characters (nothing is expanded).
pub fn words(text: &str) -> Result<Vec<String>, OpenQuote> {
    let chars: Vec<char> = text.chars().collect();
    let mut sc = Scanner {
        chars: &chars,
        i: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        while sc.peek().is_some_and(char::is_whitespace) || sc.at_continuation() {
            sc.bump();
        }
        if sc.peek().is_none() {
            return Ok(out);
        }
        out.push(sc.word(None)?);
    }
}

/// A cursor over shell text that counts lines.
struct Scanner<'a> {
    chars: &'a [char],
    i: usize,
    line: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// At a backslash-newline (a line continuation, which sh removes).
    fn at_continuation(&self) -> bool {
        self.peek() == Some('\\') && self.chars.get(self.i + 1) == Some(&'\n')
    }

    /// A shell variable name, possibly empty.
    fn name(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (!s.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    /// Skip the rest of the line, honouring backslash-newline continuations.
    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                '\n' => break,
                '\\' => {
                    self.bump();
                }
                _ => {}
            }
        }
    }

    /// One shell word, quotes removed. With `vars` (an assignment's value)
    /// `$NAME` / `${NAME}` expand and `;` ends the word; without, both are plain.
    fn word(&mut self, vars: Option<&BTreeMap<String, String>>) -> Result<String, OpenQuote> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                c if c.is_whitespace() => break,
                ';' if vars.is_some() => break,
                '\'' => {
                    self.bump();
                    self.single_quoted(&mut out)?;
                }
                '"' => {
                    self.bump();
                    self.double_quoted(vars, &mut out)?;
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        None => out.push('\\'),
                        Some('\n') => {}
                        Some(c) => out.push(c),
                    }
                }
                '$' if vars.is_some() => {
                    self.bump();
                    self.expand(vars, &mut out);
                }
                c => {
                    out.push(c);
                    self.bump();
                }
            }
        }
        Ok(out)
    }

    /// After an opening `'`: everything up to the next `'`, verbatim.
    fn single_quoted(&mut self, out: &mut String) -> Result<(), OpenQuote> {
        loop {
            match self.bump() {
                None => return Err(OpenQuote::Single),
                Some('\'') => return Ok(()),
                Some(c) => out.push(c),
            }
        }
    }

    /// After an opening `"`: up to the closing `"`; a backslash escapes only
    /// `$` `` ` `` `"` `\` and newline, and `$` expands when `vars` is given.
    fn double_quoted(
        &mut self,
        vars: Option<&BTreeMap<String, String>>,
        out: &mut String,
    ) -> Result<(), OpenQuote> {
        loop {
            match self.bump() {
                None => return Err(OpenQuote::Double),
                Some('"') => return Ok(()),
                Some('\\') => match self.bump() {
                    None => return Err(OpenQuote::Double),
                    Some('\n') => {}
                    Some(c @ ('$' | '`' | '"' | '\\')) => out.push(c),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                },
                Some('$') if vars.is_some() => self.expand(vars, out),
                Some(c) => out.push(c),
            }
        }
    }

    /// After a `$`: expand `NAME` or `{NAME}`; anything else keeps the `$`.
    fn expand(&mut self, vars: Option<&BTreeMap<String, String>>, out: &mut String) {
        let value = |name: &str| vars.and_then(|v| v.get(name)).map_or("", String::as_str);
        if self.peek() == Some('{') {
            let start = self.i;
            self.bump();
            let name = self.name();
            if !name.is_empty() && self.peek() == Some('}') {
                self.bump();
                out.push_str(value(&name));
                return;
            }
            self.i = start;
            out.push('$');
            return;
        }
        let name = self.name();
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(value(&name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the last assignment to `name`, split as `$name` would be.
    fn expanded(text: &str, name: &str) -> Vec<String> {
        let all = assignments(text).unwrap();
        let last = all.iter().rev().find(|a| a.name == name).unwrap();
        fields(&last.value)
    }

    /// Rows checked against dash: `. file; printf '[%s]' $DOCKER_OPTS`.
    #[test]
    fn a_sourced_assignment_then_an_unquoted_expansion() {
        let rows: &[(&str, &[&str])] = &[
            (r"X='--label=a\b'", &[r"--label=a\b"]),
            (r#"X="--label=a\b""#, &[r"--label=a\b"]),
            (r"X=--label=a\\b", &[r"--label=a\b"]),
            (r#"X="a\$b \`c\" \\d""#, &["a$b", "`c\"", r"\d"]),
            (r#"X="--label 'a b'""#, &["--label", "'a", "b'"]),
            (r#"X='--label "a b"'"#, &["--label", "\"a", "b\""]),
            (r#"X="--mtu=1\ 2""#, &[r"--mtu=1\", "2"]),
            ("X=\"  -D \t\n --debug  \"", &["-D", "--debug"]),
            ("X='a'\"b\"c\\\nd", &["abcd"]),
            ("X=\"a\\\nb\"", &["ab"]),
            (r"X=a\", &[r"a\"]),
            ("X=", &[]),
            ("X='' ; Y=1", &[]),
            ("X=1 ;X=\"$X 2\";", &["1", "2"]),
            (
                "L=lab; X=\"--label=\\$L:$L ${L}x $Lx\"",
                &["--label=$L:lab", "labx"],
            ),
            ("X=1\nX=\"$X 2\"; export X=\"$X 3\"", &["1", "2", "3"]),
            ("# X=no\nX=yes # X=no\necho X=no\n", &["yes"]),
        ];
        for (text, want) in rows {
            assert_eq!(expanded(text, "X"), *want, "{text:?}");
        }
    }

    #[test]
    fn assignments_keep_their_line_and_an_open_quote_is_named() {
        let all = assignments("# c\n\nA=1\n  export C='x\ny'\nD=\\\n4").unwrap();
        let got: Vec<(&str, &str, usize)> = all
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(got, [("A", "1", 3), ("C", "x\ny", 4), ("D", "4", 6)]);
        let open = |text: &str| assignments(text).unwrap_err();
        let want = |name: &str, line, quote| Unterminated {
            name: name.into(),
            line,
            quote,
        };
        assert_eq!(open("\nX=\"a\n"), want("X", 2, OpenQuote::Double));
        assert_eq!(open("X=1\nY='a"), want("Y", 2, OpenQuote::Single));
        assert_eq!(open("X=\"a\\"), want("X", 1, OpenQuote::Double));
    }

    /// DIND_DOCKERD_ARGS: the words sh would make of the text as a command line
    /// (checked against dash's `eval "set -- $text"`), with nothing expanded.
    #[test]
    fn shell_quoted_words() {
        let rows: &[(&str, Result<&[&str], OpenQuote>)] = &[
            ("", Ok(&[])),
            (" a  b ", Ok(&["a", "b"])),
            ("'' x", Ok(&["", "x"])),
            (r#"a\ b "c\"d""#, Ok(&["a b", "c\"d"])),
            (r"'a\b' a\\b", Ok(&[r"a\b", r"a\b"])),
            (r#""a\b" "a\\b" "\$""#, Ok(&[r"a\b", r"a\b", "$"])),
            ("a\\\nb \\\n c", Ok(&["ab", "c"])),
            (r"a\", Ok(&[r"a\"])),
            ("$HOME ${X} a;b", Ok(&["$HOME", "${X}", "a;b"])),
            ("--label 'a b'", Ok(&["--label", "a b"])),
            ("\"open", Err(OpenQuote::Double)),
            ("'open", Err(OpenQuote::Single)),
        ];
        for (text, want) in rows {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(words(text), want, "{text:?}");
        }
    }
}

//! Checks of single values (ports, durations, platforms, names, …) that
//! turn a bad value into a diagnostic at its span. Pure functions.

use crate::diag::{Code, Diagnostic};
use crate::source::Spanned;
use crate::spec::{Port, Protocol};

type Check<T> = Result<T, Diagnostic>;

fn bad(code: Code, value: &Spanned<String>, message: String, help: &str) -> Diagnostic {
    Diagnostic::error(code, value.span, message).label("invalid").help(help.to_owned())
}

/// A value that lands on one Dockerfile line: no line breaks or control
/// characters, which no quoting can carry safely.
pub fn single_line(value: &Spanned<String>, what: &str) -> Check<()> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        let name = match c {
            '\n' => "a newline".to_owned(),
            '\r' => "a carriage return".to_owned(),
            '\t' => "a tab".to_owned(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        return Err(Diagnostic::error(
            Code::UnsafeValue,
            value.span,
            format!("{what} contains {name}, which cannot be written into a Dockerfile line"),
        )
        .label("unsafe character")
        .help("remove the line break or control character"));
    }
    Ok(())
}

/// A script of `run`: line breaks and tabs are fine (they become a
/// heredoc); other control characters are not.
pub fn script(value: &Spanned<String>) -> Check<()> {
    if value.trim().is_empty() {
        return Err(Diagnostic::error(Code::Empty, value.span, "empty script")
            .label("nothing to run")
            .help("write the command to run, or remove the `run` node"));
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t') {
        let help = if c == '\r' { "use LF line endings" } else { "remove the control character" };
        return Err(Diagnostic::error(
            Code::UnsafeValue,
            value.span,
            format!("script contains the control character U+{:04X}", c as u32),
        )
        .label("unsafe character")
        .help(help));
    }
    Ok(())
}

/// A value that must say something.
pub fn non_empty(value: &Spanned<String>, what: &str) -> Check<()> {
    if value.is_empty() {
        return Err(Diagnostic::error(Code::InvalidValue, value.span, format!("empty {what}")).label("empty"));
    }
    Ok(())
}

/// A value written as one word of a flag (`--exclude=GLOB`): no white space.
pub fn single_word(value: &Spanned<String>, what: &str) -> Check<()> {
    if value.chars().any(char::is_whitespace) {
        return Err(Diagnostic::error(
            Code::UnsafeValue,
            value.span,
            format!("{what} contains white space, which a Dockerfile flag cannot hold"),
        )
        .label("white space")
        .help("use `?` or `*` in place of the space"));
    }
    Ok(())
}

/// One option value of a `--mount=` flag: written unquoted into a
/// comma-separated list, so no commas, quotes, spaces or control characters.
pub fn mount_value(value: &Spanned<String>, what: &str) -> Check<()> {
    single_line(value, what)?;
    if value.is_empty() {
        return Err(Diagnostic::error(Code::InvalidValue, value.span, format!("{what} is empty"))
            .label("empty"));
    }
    if let Some(c) = value.chars().find(|c| matches!(c, ',' | '"' | '\'' | '\\') || c.is_whitespace())
    {
        return Err(Diagnostic::error(
            Code::UnsafeValue,
            value.span,
            format!("{what} contains `{c}`, which a --mount option cannot hold"),
        )
        .label("unsafe character")
        .help("use a value without commas, quotes, backslashes or spaces"));
    }
    Ok(())
}

/// A Dockerfile stage name: lowercase letter first, then lowercase letters,
/// digits, `-`, `_`, `.`.
pub fn stage_name(value: &Spanned<String>) -> Check<()> {
    let ok = value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && value.len() <= 128;
    if !ok {
        return Err(bad(
            Code::InvalidStageName,
            value,
            format!("`{}` is not a valid stage name", value.value),
            "start with a lowercase letter; then use lowercase letters, digits, `-`, `_` or `.`",
        ));
    }
    if value.value == "scratch" {
        return Err(bad(
            Code::InvalidStageName,
            value,
            "`scratch` is reserved for the empty image".to_owned(),
            "choose another name",
        ));
    }
    Ok(())
}

/// An environment variable or build arg name.
pub fn var_name(value: &Spanned<String>) -> Check<()> {
    let ok = value.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{}` is not a valid variable name", value.value),
            "use letters, digits and `_`, not starting with a digit",
        ));
    }
    Ok(())
}

/// `8080`, `53/udp`, `8000-8010/tcp`.
pub fn port(value: &Spanned<String>) -> Check<Port> {
    let err = || {
        bad(
            Code::InvalidPort,
            value,
            format!("`{}` is not a valid port", value.value),
            "write a port from 1 to 65535, optionally a range `8000-8010`, and `/tcp`, `/udp` or `/sctp`",
        )
    };
    let (numbers, protocol) = match value.split_once('/') {
        None => (value.as_str(), Protocol::Tcp),
        Some((n, "tcp")) => (n, Protocol::Tcp),
        Some((n, "udp")) => (n, Protocol::Udp),
        Some((n, "sctp")) => (n, Protocol::Sctp),
        Some(_) => return Err(err()),
    };
    let number = |s: &str| -> Option<u16> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u16>().ok().filter(|n| *n != 0)
    };
    let (first, last) = match numbers.split_once('-') {
        None => (number(numbers).ok_or_else(err)?, None),
        Some((a, b)) => {
            let (a, b) = (number(a).ok_or_else(err)?, number(b).ok_or_else(err)?);
            if b < a {
                return Err(err());
            }
            (a, Some(b))
        }
    };
    Ok(Port { first, last, protocol })
}

/// `0755`, `644`.
pub fn chmod(value: &Spanned<String>) -> Check<()> {
    let ok = (3..=4).contains(&value.len()) && value.bytes().all(|b| (b'0'..=b'7').contains(&b));
    if !ok {
        return Err(bad(
            Code::InvalidChmod,
            value,
            format!("`{}` is not a valid file mode", value.value),
            "write 3 or 4 octal digits, like \"0755\" or \"644\"",
        ));
    }
    Ok(())
}

/// A Go duration as HEALTHCHECK takes it: `30s`, `1m30s`, `500ms`, `1.5h`.
pub fn duration(value: &Spanned<String>) -> Check<()> {
    let err = || {
        bad(
            Code::InvalidDuration,
            value,
            format!("`{}` is not a valid duration", value.value),
            "write a number and a unit (ms, s, m, h), like \"30s\" or \"1m30s\"",
        )
    };
    let s = value.as_str();
    if s.is_empty() {
        return Err(err());
    }
    let mut rest = s;
    while !rest.is_empty() {
        let n_digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number = &rest[..n_digits];
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
            return Err(err());
        }
        rest = &rest[n_digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(*u))
            .max_by_key(|u| u.len())
            .ok_or_else(err)?;
        rest = &rest[unit.len()..];
    }
    Ok(())
}

const OSES: &[&str] = &["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "android", "ios", "js", "wasip1", "plan9", "dragonfly"];
const ARCHES: &[&str] = &["amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips", "mipsle", "mips64", "mips64le", "loong64", "wasm"];

/// `os/arch[/variant]`, or a BuildKit platform arg like `$BUILDPLATFORM`.
pub fn platform(value: &Spanned<String>) -> Check<()> {
    const ARGS: &[&str] = &["BUILDPLATFORM", "TARGETPLATFORM"];
    let s = value.as_str();
    if ARGS.iter().any(|a| s == format!("${a}") || s == format!("${{{a}}}")) {
        return Ok(());
    }
    let parts: Vec<&str> = s.split('/').collect();
    let variant_ok = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric());
    let ok = (2..=3).contains(&parts.len())
        && OSES.contains(&parts[0])
        && ARCHES.contains(&parts[1])
        && parts.get(2).is_none_or(|v| variant_ok(v));
    if !ok {
        let help = match parts.first() {
            Some(os) if !OSES.contains(os) => format!("`{os}` is not a known OS; write e.g. \"linux/amd64\" or \"linux/arm64/v8\""),
            _ if parts.len() >= 2 && !ARCHES.contains(&parts[1]) => {
                format!("`{}` is not a known architecture; expected one of: {}", parts[1], ARCHES.join(", "))
            }
            _ => "write os/arch[/variant], e.g. \"linux/amd64\" or \"linux/arm64/v8\"".to_owned(),
        };
        return Err(Diagnostic::error(
            Code::InvalidPlatform,
            value.span,
            format!("`{s}` is not a valid platform"),
        )
        .label("invalid")
        .help(help));
    }
    Ok(())
}

/// `SIGTERM`, `SIGRTMIN+3` or a signal number.
pub fn signal(value: &Spanned<String>) -> Check<()> {
    let s = value.as_str();
    let named = s.len() > 3
        && s.starts_with("SIG")
        && s[3..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-');
    let numbered = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !named && !numbered {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{s}` is not a signal"),
            "write a signal name like \"SIGTERM\" or a number like \"15\"",
        ));
    }
    Ok(())
}

/// `name`, `name:group`, `1000:1000`.
pub fn user(value: &Spanned<String>) -> Check<()> {
    single_line(value, "user")?;
    let part_ok = |p: &str| {
        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.$@{}".contains(c))
    };
    let ok = match value.split_once(':') {
        None => part_ok(value),
        Some((u, g)) => part_ok(u) && part_ok(g),
    };
    if !ok {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{}` is not a valid user", value.value),
            "write a user name or id, optionally with `:group`",
        ));
    }
    Ok(())
}

/// `sha256:<64 hex digits>` (or sha384/sha512).
pub fn checksum(value: &Spanned<String>) -> Check<()> {
    let ok = match value.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha384", hex)) => hex.len() == 96,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && value.split_once(':').is_some_and(|(_, h)| h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    if !ok {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{}` is not a valid checksum", value.value),
            "write `sha256:` followed by 64 lowercase hex digits",
        ));
    }
    Ok(())
}

/// A system package name, with an optional version pin (`curl=7.88.1-10`).
pub fn package_name(value: &Spanned<String>) -> Check<()> {
    let ok = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || ".+-_:=~".contains(c));
    if !ok {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{}` is not a valid package name", value.value),
            "write a package name such as \"ca-certificates\" or \"curl=7.88.1-10\"",
        ));
    }
    Ok(())
}

/// A size such as `65536`, `64m`, `1g` (tmpfs).
pub fn size(value: &Spanned<String>) -> Check<()> {
    let s = value.as_str();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["", "b", "k", "kb", "m", "mb", "g", "gb"].contains(&unit.to_ascii_lowercase().as_str());
    if !ok {
        return Err(bad(
            Code::InvalidValue,
            value,
            format!("`{s}` is not a size"),
            "write a number of bytes, or a number with k, m or g, like \"64m\"",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn s(v: &str) -> Spanned<String> {
        Spanned::new(v.to_owned(), Span::default())
    }

    #[test]
    fn ports() {
        assert!(port(&s("8080")).is_ok());
        assert_eq!(port(&s("53/udp")).unwrap().protocol, Protocol::Udp);
        assert_eq!(port(&s("8000-8010")).unwrap().last, Some(8010));
        for it in ["0", "65536", "80/xyz", "-1", "", "10-5", "8080/", "+80"] {
            assert!(port(&s(it)).is_err(), "{it}");
        }
    }

    #[test]
    fn durations() {
        for it in ["30s", "1m30s", "500ms", "1.5h", "10us"] {
            assert!(duration(&s(it)).is_ok(), "{it}");
        }
        for it in ["", "30", "s", "1.s", "3x", "1..2s", "-1s"] {
            assert!(duration(&s(it)).is_err(), "{it}");
        }
    }

    #[test]
    fn platforms() {
        for it in ["linux/amd64", "linux/arm64/v8", "$BUILDPLATFORM", "${TARGETPLATFORM}"] {
            assert!(platform(&s(it)).is_ok(), "{it}");
        }
        for it in ["linux", "linux/amd65", "lnux/amd64", "linux/arm/v7/x", "linux/arm/"] {
            assert!(platform(&s(it)).is_err(), "{it}");
        }
    }

    #[test]
    fn chmods_and_names() {
        assert!(chmod(&s("0755")).is_ok());
        assert!(chmod(&s("999")).is_err());
        assert!(stage_name(&s("build-1.x")).is_ok());
        assert!(stage_name(&s("Build")).is_err());
        assert!(stage_name(&s("scratch")).is_err());
    }
}

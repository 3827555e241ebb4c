//! The XML Schema datatypes the SDK schemas use, checked on their lexical form as an XSD processor does
//! (whitespace collapsed first where the type says so).

/// A built-in datatype, or one restricted from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    String,
    NormalizedString,
    /// `xs:string` with a `maxLength` facet (in characters).
    StringMax(usize),
    Language,
    AnyUri,
    Boolean,
    DateTime,
    Date,
    Time,
    Base64Binary,
    Integer,
    /// `xs:ID`: an NCName, unique in the document.
    Id,
}

impl Datatype {
    pub fn name(&self) -> &'static str {
        match self {
            Self::String | Self::StringMax(_) => "xs:string",
            Self::NormalizedString => "xs:normalizedString",
            Self::Language => "xs:language",
            Self::AnyUri => "xs:anyURI",
            Self::Boolean => "xs:boolean",
            Self::DateTime => "xs:dateTime",
            Self::Date => "xs:date",
            Self::Time => "xs:time",
            Self::Base64Binary => "xs:base64Binary",
            Self::Integer => "xs:integer",
            Self::Id => "xs:ID",
        }
    }

    /// Ok, or why the value is not in the lexical space.
    /// True when every string is in the lexical space, so a value need not even be read.
    pub fn accepts_everything(&self) -> bool {
        matches!(self, Self::String | Self::NormalizedString | Self::AnyUri)
    }

    pub fn check(&self, raw: &str) -> Result<(), &'static str> {
        if self.accepts_everything() {
            return Ok(());
        }
        let v = collapse(raw);
        match self {
            // Dates and times follow libxml2, which the official checks use: a date takes no surrounding
            // whitespace, a time only leading whitespace, a dateTime only trailing whitespace after a zone.
            Self::DateTime => return date_time(raw),
            Self::Date => return date_only(raw),
            Self::Time => return time_only(raw.trim_start_matches(XML_WS)),
            _ => {}
        }
        match self {
            Self::String | Self::NormalizedString | Self::AnyUri => Ok(()),
            Self::StringMax(max) => {
                if raw.chars().count() > *max {
                    Err("longer than the schema's maximum length")
                } else {
                    Ok(())
                }
            }
            Self::Language => language(&v),
            Self::Boolean => match v.as_str() {
                "true" | "false" | "1" | "0" => Ok(()),
                _ => Err("expected true, false, 1 or 0"),
            },
            Self::DateTime => date_time(&v),
            Self::Date => date_only(&v),
            Self::Time => time_only(&v),
            Self::Base64Binary => base64(raw),
            Self::Integer => integer(&v),
            Self::Id => ncname(&v),
        }
    }
}

const XML_WS: [char; 4] = [' ', '\t', '\r', '\n'];

/// Whitespace facet `collapse`: trim and squeeze runs of XML whitespace into one space.
pub fn collapse(s: &str) -> String {
    s.split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn language(v: &str) -> Result<(), &'static str> {
    let mut parts = v.split('-');
    let first = parts.next().unwrap_or("");
    let ok_first = (1..=8).contains(&first.len()) && first.bytes().all(|b| b.is_ascii_alphabetic());
    let ok_rest =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok_first && ok_rest {
        Ok(())
    } else {
        Err("expected a language tag such as sv or sv-SE")
    }
}

fn integer(v: &str) -> Result<(), &'static str> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("expected an integer")
    }
}

fn ncname(v: &str) -> Result<(), &'static str> {
    // XML 1.0 (4th edition) name characters, as libxml2 uses them: letters but not letter-numbers such as
    // roman numerals, plus the "extender" characters after the first position.
    let letter =
        |c: char| (c.is_alphabetic() && !('\u{2160}'..='\u{2188}').contains(&c)) || c == '_';
    let extender = |c: char| {
        matches!(
            c,
            '\u{B7}'
                | '\u{2D0}'
                | '\u{2D1}'
                | '\u{387}'
                | '\u{640}'
                | '\u{E46}'
                | '\u{EC6}'
                | '\u{3005}'
        ) || ('\u{3031}'..='\u{3035}').contains(&c)
            || ('\u{309D}'..='\u{309E}').contains(&c)
            || ('\u{30FC}'..='\u{30FE}').contains(&c)
    };
    let mut chars = v.chars();
    let first_ok = chars.next().is_some_and(letter);
    let rest_ok =
        chars.all(|c| letter(c) || c.is_numeric() || matches!(c, '-' | '.') || extender(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err("expected an XML name without a colon")
    }
}

fn base64(raw: &str) -> Result<(), &'static str> {
    let mut data = 0usize;
    let mut pad = 0usize;
    let mut last_data = 0u8;
    for b in raw.bytes() {
        match b {
            b'=' => pad += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                if pad > 0 {
                    return Err("characters after the '=' padding");
                }
                data += 1;
                last_data = b;
            }
            // libxml2 (and so the official check) skips anything outside the alphabet, not only whitespace.
            _ => {}
        }
    }
    if pad > 2 || !(data + pad).is_multiple_of(4) {
        return Err("the length is not a whole number of base64 quanta");
    }
    // The bits the padding leaves unused must be zero, or the value has no canonical form.
    let value = match last_data {
        b'A'..=b'Z' => last_data - b'A',
        b'a'..=b'z' => last_data - b'a' + 26,
        b'0'..=b'9' => last_data - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    if (pad == 1 && value & 0b11 != 0) || (pad == 2 && value & 0b1111 != 0) {
        return Err("non-zero bits before the padding");
    }
    Ok(())
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `-?YYYY+-MM-DD` → (year, month, day), checked against the calendar.
fn parse_date(s: &str) -> Result<(), &'static str> {
    const BAD: &str = "expected a date as YYYY-MM-DD";
    let body = s.strip_prefix('-').unwrap_or(s);
    let mut it = body.rsplitn(3, '-');
    let (d, m, y) = (
        it.next().ok_or(BAD)?,
        it.next().ok_or(BAD)?,
        it.next().ok_or(BAD)?,
    );
    if y.len() < 4 || !y.bytes().all(|b| b.is_ascii_digit()) || (y.len() > 4 && y.starts_with('0'))
    {
        return Err(BAD);
    }
    let year: i64 = y.parse().map_err(|_| BAD)?;
    if year == 0 {
        return Err("year 0000 does not exist");
    }
    let month = digits(m, 2).ok_or(BAD)?;
    let day = digits(d, 2).ok_or(BAD)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let max = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > max {
        return Err("day out of range for the month");
    }
    Ok(())
}

/// `hh:mm:ss(.s+)?`
fn parse_clock(s: &str) -> Result<(), &'static str> {
    const BAD: &str = "expected a time as hh:mm:ss";
    let (hms, frac) = match s.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("bad fractional seconds");
    }
    let mut it = hms.split(':');
    let h = it.next().and_then(|p| digits(p, 2)).ok_or(BAD)?;
    let m = it.next().and_then(|p| digits(p, 2)).ok_or(BAD)?;
    let sec = it.next().and_then(|p| digits(p, 2)).ok_or(BAD)?;
    if it.next().is_some() {
        return Err(BAD);
    }
    let midnight_24 =
        h == 24 && m == 0 && sec == 0 && frac.is_none_or(|f| f.bytes().all(|b| b == b'0'));
    if (h > 23 && !midnight_24) || m > 59 || sec > 59 {
        return Err("time out of range");
    }
    Ok(())
}

/// Split a trailing time zone (`Z`, `+hh:mm`, `-hh:mm`) off `s`.
fn split_zone(s: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(body) = s.strip_suffix('Z') {
        return Ok((body, Some("Z")));
    }
    if s.len() > 6 && s.is_char_boundary(s.len() - 6) {
        let (body, tz) = s.split_at(s.len() - 6);
        let b = tz.as_bytes();
        if (b[0] == b'+' || b[0] == b'-') && b[3] == b':' {
            let h = digits(&tz[1..3], 2).ok_or("bad time zone")?;
            let m = digits(&tz[4..6], 2).ok_or("bad time zone")?;
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return Err("time zone out of range");
            }
            return Ok((body, Some(tz)));
        }
    }
    Ok((s, None))
}

fn date_time(raw: &str) -> Result<(), &'static str> {
    let trimmed = raw.trim_end_matches(XML_WS);
    let (body, zone) = split_zone(trimmed)?;
    if zone.is_none() && trimmed.len() != raw.len() {
        return Err("whitespace after a value without a time zone");
    }
    let (date, time) = body
        .split_once('T')
        .ok_or("expected a date and time as YYYY-MM-DDThh:mm:ss")?;
    parse_date(date)?;
    parse_clock(time)
}

fn date_only(v: &str) -> Result<(), &'static str> {
    let (body, _) = split_zone(v)?;
    parse_date(body)
}

fn time_only(v: &str) -> Result<(), &'static str> {
    let (body, _) = split_zone(v)?;
    parse_clock(body)
}

/// Does an `xs:dateTime` value carry a time zone? (SDK requires one on XHE CreationDateTime.)
pub fn has_time_zone(v: &str) -> bool {
    matches!(split_zone(v.trim_end_matches(XML_WS)), Ok((_, Some(_))))
}

#[cfg(test)]
mod tests {
    use super::Datatype::*;

    #[test]
    fn date_times() {
        for ok in [
            "2022-01-30T17:52:58.1Z",
            "2021-03-24T17:22:10+01:00",
            "2024-02-29T00:00:00",
            "2019-08-15T17:52:58Z \n",
            "-0044-03-15T12:00:00Z",
        ] {
            assert_eq!(DateTime.check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "3 Sept. 2019",
            "2023-02-29T00:00:00Z",
            "2022-13-01T00:00:00Z",
            "2022-01-01T25:00:00Z",
            "2022-01-01T10:00Z",
            "2022-01-01 10:00:00Z",
            "2022-01-01T10:00:00+15:00",
            "2022-01-01T10:00:00.Z",
            "",
            " 2019-08-15T17:52:58Z",
            "2019-08-15T17:52:58 ",
        ] {
            assert!(DateTime.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_values() {
        for ok in ["", "QUJD", "QUI=", "QQ==", "QU JD\n", "QUJD!", "QU-JD"] {
            assert_eq!(Base64Binary.check(ok), Ok(()), "{ok}");
        }
        for bad in ["QUJ", "Q===", "QU=D", "QR=="] {
            assert!(Base64Binary.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_and_dates_with_whitespace_and_odd_characters() {
        assert!(Time.check(" 12:00:00Z").is_ok());
        assert!(Time.check("12:00:00Z ").is_err());
        assert!(Date.check(" 2021-04-15").is_err());
        assert!(Time.check("x€12345").is_err());
        assert!(DateTime.check("2021-04-15T10:00:00€12345").is_err());
    }

    #[test]
    fn booleans_and_languages() {
        assert!(Boolean.check(" true ").is_ok());
        assert!(Boolean.check("yes").is_err());
        assert!(Language.check("sv-SE").is_ok());
        assert!(Language.check("").is_err());
        assert!(Language.check("sv_SE").is_err());
    }
}

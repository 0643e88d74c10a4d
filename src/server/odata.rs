//! OData query options of a collection, for any served entity type: `$top`, `$skip`, `$filter`,
//! `$select`, `$orderby`, `$count`, and the opaque `$skiptoken` of server-driven paging. Property
//! names, types and enum values come from the entity's field table, at the version root asked.
//!
//! String comparisons (`eq`, `ne`, `startswith`, `contains`, ...) ignore case, as Intune's store
//! does. `$top` above [`MAX_TOP`] is clamped to it rather than refused (Intune pages hold up to
//! about a thousand items and clients that ask for more still get pages). Which of these a
//! collection accepts is the route's business (the registered devices take far fewer).

use super::conventions::ApiError;
use super::schema::EntityType;
use crate::graph::resource::{Field, Kind, Record};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// The largest page a client may ask for with `$top`; larger values are clamped to it.
pub const MAX_TOP: usize = 999;

/// Why a query option cannot be used: the text of a 400 `BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueryError(pub(super) String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        ApiError::bad_request(error.0)
    }
}

fn bad<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(message.into()))
}

/// Whether a field compares as text (a secret never does: it must not be probed).
fn is_text(field: &Field) -> bool {
    matches!(field.kind, Kind::Key | Kind::Text | Kind::Upn | Kind::Binary)
}

/// A field's string value in a record (`None` for null, absent or not a string).
fn text_of<'a>(field: &Field, record: &'a Record) -> Option<&'a str> {
    field.get(record).and_then(Value::as_str)
}

/// An enum field's value as its position in the declared values (how OData orders enums).
fn enum_position(field: &Field, record: &Record) -> Option<usize> {
    let Kind::Enum(values) = field.kind else { return None };
    let text = text_of(field, record)?;
    values.iter().position(|v| *v == text)
}

// ---------------------------------------------------------------------------------------------
// $filter

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    fn from_word(word: &str) -> Option<CmpOp> {
        Some(match word {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
        }
    }
}

/// A string function of `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StringFn {
    /// `startswith(prop,'x')`
    StartsWith,
    /// `endswith(prop,'x')`
    EndsWith,
    /// `contains(prop,'x')`
    Contains,
}

/// The right-hand side of a comparison, already checked against the property's type.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    /// A string (lower-cased, since comparisons ignore case), or `None` for `null`.
    Text(Option<String>),
    /// An enum value, as its position in the declared values.
    Enum(usize),
    /// An integer.
    Int(i64),
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Filter {
    /// `prop op literal`
    Compare(&'static Field, CmpOp, Operand),
    /// `fn(prop, 'literal')`, literal lower-cased.
    Call(StringFn, &'static Field, String),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not a`
    Not(Box<Filter>),
}

impl Filter {
    /// Parses `$filter` text against the entity's fields at this version root.
    pub(super) fn parse(text: &str, entity: &EntityType, beta: bool) -> Result<Filter, QueryError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, next: 0, entity, beta };
        let filter = parser.or_expr()?;
        match parser.peek() {
            None => Ok(filter),
            Some(t) => bad(format!("Invalid $filter: unexpected {} at position {}.", t.kind, t.at)),
        }
    }

    /// Whether the record satisfies the expression.
    pub(super) fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::And(a, b) => a.matches(record) && b.matches(record),
            Filter::Or(a, b) => a.matches(record) || b.matches(record),
            Filter::Not(a) => !a.matches(record),
            Filter::Call(function, field, needle) => match text_of(field, record) {
                None => false,
                Some(value) => {
                    let value = value.to_lowercase();
                    match function {
                        StringFn::StartsWith => value.starts_with(needle.as_str()),
                        StringFn::EndsWith => value.ends_with(needle.as_str()),
                        StringFn::Contains => value.contains(needle.as_str()),
                    }
                }
            },
            Filter::Compare(field, op, operand) => {
                let ordering = match operand {
                    Operand::Enum(want) => enum_position(field, record).cmp(&Some(*want)),
                    Operand::Int(want) => field.get(record).and_then(Value::as_i64).cmp(&Some(*want)),
                    Operand::Text(want) => {
                        let have = text_of(field, record).map(str::to_lowercase);
                        // null sorts before every string, as in OData.
                        have.as_deref().cmp(&want.as_deref())
                    }
                };
                op.holds(ordering)
            }
        }
    }

    /// Every field the expression reads, in order of appearance.
    pub(super) fn fields(&self, out: &mut Vec<&'static Field>) {
        match self {
            Filter::Compare(field, ..) | Filter::Call(_, field, _) => out.push(field),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.fields(out);
                b.fields(out);
            }
            Filter::Not(a) => a.fields(out),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Open,
    Close,
    Comma,
    Word(String),
    Text(String),
    Int(i64),
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Open => f.write_str("'('"),
            TokenKind::Close => f.write_str("')'"),
            TokenKind::Comma => f.write_str("','"),
            TokenKind::Word(w) => write!(f, "'{w}'"),
            TokenKind::Text(t) => write!(f, "string literal '{}'", t.replace('\'', "''")),
            TokenKind::Int(i) => write!(f, "number {i}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: TokenKind,
    /// Character position in the filter text, for error messages.
    at: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                TokenKind::Open
            }
            ')' => {
                i += 1;
                TokenKind::Close
            }
            ',' => {
                i += 1;
                TokenKind::Comma
            }
            '\'' => {
                // A literal ends at a lone quote; a doubled quote is one quote character.
                let mut literal = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return bad(format!(
                                "Invalid $filter: unterminated string literal at position {at}."
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            literal.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            literal.push(other);
                            i += 1;
                        }
                    }
                }
                TokenKind::Text(literal)
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                let digits: String = chars[start..i].iter().collect();
                match digits.parse::<i64>() {
                    Ok(n) => TokenKind::Int(n),
                    Err(_) => {
                        return bad(format!("Invalid $filter: bad number '{digits}' at position {at}."));
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while chars.get(i).is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '$'))
                {
                    i += 1;
                }
                TokenKind::Word(chars[start..i].iter().collect())
            }
            other => {
                return bad(format!("Invalid $filter: unexpected character '{other}' at position {at}."));
            }
        };
        tokens.push(Token { kind, at });
    }
    Ok(tokens)
}

struct Parser<'e> {
    tokens: Vec<Token>,
    next: usize,
    entity: &'e EntityType,
    beta: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Word(w), .. }) if w == word)
    }

    fn expect(&mut self, wanted: TokenKind, what: &str) -> Result<(), QueryError> {
        match self.take() {
            Some(t) if t.kind == wanted => Ok(()),
            Some(t) => {
                bad(format!("Invalid $filter: expected {what} but found {} at position {}.", t.kind, t.at))
            }
            None => bad(format!("Invalid $filter: expected {what} but the expression ended.")),
        }
    }

    fn or_expr(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.and_expr()?;
        while self.peek_word("or") {
            self.next += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, QueryError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.next += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, QueryError> {
        if self.peek_word("not") {
            self.next += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, QueryError> {
        let Some(token) = self.take() else {
            return bad("Invalid $filter: the expression is empty or ends too early.");
        };
        match token.kind {
            TokenKind::Open => {
                let inner = self.or_expr()?;
                self.expect(TokenKind::Close, "')'")?;
                Ok(inner)
            }
            TokenKind::Word(word) if matches!(self.peek(), Some(Token { kind: TokenKind::Open, .. })) => {
                self.call(&word, token.at)
            }
            TokenKind::Word(word) => self.comparison(&word, token.at),
            other => bad(format!(
                "Invalid $filter: expected a property or a function but found {other} at position {}.",
                token.at
            )),
        }
    }

    fn property(&self, path: &str, at: usize) -> Result<&'static Field, QueryError> {
        self.entity.field(path, self.beta).ok_or_else(|| {
            QueryError(format!(
                "Invalid $filter: could not find a property named '{path}' on type '{}' (position {at}).",
                self.entity.qualified()
            ))
        })
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Filter, QueryError> {
        let function = match name {
            "startswith" => StringFn::StartsWith,
            "endswith" => StringFn::EndsWith,
            "contains" => StringFn::Contains,
            _ => {
                return bad(format!(
                    "Invalid $filter: unknown function '{name}' at position {at} \
                     (supported: startswith, endswith, contains)."
                ));
            }
        };
        self.expect(TokenKind::Open, "'('")?;
        let field = match self.take() {
            Some(Token { kind: TokenKind::Word(path), at }) => self.property(&path, at)?,
            Some(t) => {
                return bad(format!("Invalid $filter: {name} expects a property first, found {}.", t.kind));
            }
            None => return bad(format!("Invalid $filter: {name} is not finished.")),
        };
        if !is_text(field) {
            return bad(format!(
                "Invalid $filter: {name} needs a string property; '{}' is not one.",
                field.path
            ));
        }
        self.expect(TokenKind::Comma, "','")?;
        let needle = match self.take() {
            Some(Token { kind: TokenKind::Text(text), .. }) => text.to_lowercase(),
            Some(t) => {
                return bad(format!("Invalid $filter: {name} expects a string literal, found {}.", t.kind));
            }
            None => return bad(format!("Invalid $filter: {name} is not finished.")),
        };
        self.expect(TokenKind::Close, "')'")?;
        Ok(Filter::Call(function, field, needle))
    }

    fn comparison(&mut self, path: &str, at: usize) -> Result<Filter, QueryError> {
        let field = self.property(path, at)?;
        let op = match self.take() {
            Some(Token { kind: TokenKind::Word(w), at }) => CmpOp::from_word(&w).ok_or_else(|| {
                QueryError(format!(
                    "Invalid $filter: unknown operator '{w}' at position {at} (use eq, ne, gt, ge, lt, le)."
                ))
            })?,
            Some(t) => {
                return bad(format!(
                    "Invalid $filter: expected an operator after '{path}' but found {}.",
                    t.kind
                ));
            }
            None => return bad(format!("Invalid $filter: expected an operator after '{path}'.")),
        };
        let Some(value) = self.take() else {
            return bad(format!("Invalid $filter: expected a value after the operator on '{path}'."));
        };
        let operand = match (field.kind, value.kind) {
            (Kind::Enum(values), TokenKind::Text(text)) => match values.iter().position(|v| *v == text) {
                Some(position) => Operand::Enum(position),
                None => {
                    return bad(format!(
                        "Invalid $filter: '{text}' is not a valid value of '{}'.",
                        self.entity.edm_type(field)
                    ));
                }
            },
            (Kind::Int32, TokenKind::Int(n)) => Operand::Int(n),
            (_, TokenKind::Text(text)) if is_text(field) => Operand::Text(Some(text.to_lowercase())),
            (_, TokenKind::Word(w)) if w == "null" && is_text(field) => Operand::Text(None),
            (_, other) => {
                return bad(format!(
                    "Invalid $filter: {other} at position {} cannot be compared with '{path}'.",
                    value.at
                ));
            }
        };
        Ok(Filter::Compare(field, op, operand))
    }
}

// ---------------------------------------------------------------------------------------------
// $select and $orderby

/// Which top-level properties a response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selection {
    /// Selected top-level JSON names (a complex property by its name); `None` means all.
    names: Option<Vec<&'static str>>,
}

impl Selection {
    /// Every property.
    pub(super) fn all() -> Selection {
        Selection { names: None }
    }

    /// Parses `$select` (a comma list; `*` means all; the key is always included).
    pub(super) fn parse(text: &str, entity: &EntityType, beta: bool) -> Result<Selection, QueryError> {
        let known = entity.top_level(beta);
        let mut names = vec![entity.key()];
        for raw in text.split(',') {
            let name = raw.trim();
            if name == "*" {
                return Ok(Selection::all());
            }
            let Some(found) = known.iter().find(|k| **k == name) else {
                return bad(format!(
                    "Could not find a property named '{name}' on type '{}'.",
                    entity.qualified()
                ));
            };
            if !names.contains(found) {
                names.push(found);
            }
        }
        Ok(Selection { names: Some(names) })
    }

    /// The selected names in order (the key first), or `None` when everything is selected.
    pub(super) fn names(&self) -> Option<&[&'static str]> {
        self.names.as_deref()
    }

    /// Whether the top-level property `name` is selected.
    pub(super) fn includes(&self, name: &str) -> bool {
        self.names.as_ref().is_none_or(|names| names.contains(&name))
    }
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SortKey {
    /// The property.
    pub(super) field: &'static Field,
    /// `desc` when true.
    pub(super) descending: bool,
}

/// Parses `$orderby`: `prop [asc|desc]`, comma separated.
pub(super) fn parse_orderby(text: &str, entity: &EntityType, beta: bool) -> Result<Vec<SortKey>, QueryError> {
    let mut keys = Vec::new();
    for part in text.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (path, descending) = match words.as_slice() {
            [path] => (*path, false),
            [path, "asc"] => (*path, false),
            [path, "desc"] => (*path, true),
            _ => return bad(format!("Invalid $orderby: '{}' (use 'property [asc|desc]').", part.trim())),
        };
        let Some(field) = entity.field(path, beta).filter(|f| f.kind != Kind::Secret) else {
            return bad(format!(
                "Invalid $orderby: could not find a property named '{path}' on type '{}'.",
                entity.qualified()
            ));
        };
        keys.push(SortKey { field, descending });
    }
    Ok(keys)
}

/// One `$orderby` key's value for one record, extracted once so a large sort holds only keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SortValue {
    /// A string property; `None` (null) sorts first, as OData orders nulls.
    Text(Option<String>),
    /// An enum, in declaration order.
    Enum(Option<usize>),
    /// An integer.
    Int(Option<i64>),
}

/// The `$orderby` values of a record, one per key.
pub(super) fn sort_values(keys: &[SortKey], record: &Record) -> Vec<SortValue> {
    keys.iter()
        .map(|key| match key.field.kind {
            Kind::Enum(_) => SortValue::Enum(enum_position(key.field, record)),
            Kind::Int32 => SortValue::Int(key.field.get(record).and_then(Value::as_i64)),
            _ => SortValue::Text(text_of(key.field, record).map(str::to_string)),
        })
        .collect()
}

/// Compares two records' [`sort_values`] under the keys' directions.
pub(super) fn compare_sort_values(keys: &[SortKey], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for ((key, a), b) in keys.iter().zip(a).zip(b) {
        let ordering = if key.descending { b.cmp(a) } else { a.cmp(b) };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------------------------
// The whole query, and the skiptoken that continues it

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cursor {
    /// In store order: after the record in this store slot (survives deletions between pages).
    AfterSlot(u64),
    /// In `$orderby` order: this many matching records are already delivered.
    Offset(usize),
}

/// The parsed query options of a collection request.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct CollectionQuery {
    /// `$filter`
    pub(super) filter: Option<Filter>,
    /// `$select`
    pub(super) select: Option<Selection>,
    /// `$orderby`
    pub(super) orderby: Vec<SortKey>,
    /// `$top`, already clamped to [`MAX_TOP`].
    pub(super) top: Option<usize>,
    /// `$skip`
    pub(super) skip: usize,
    /// `$count=true`
    pub(super) count: bool,
    /// From `$skiptoken`: where this page starts.
    pub(super) cursor: Option<Cursor>,
    /// The system query options the client sent (or its skiptoken carried), by name.
    pub(super) sent: Vec<String>,
    /// The options that shape every page (`$filter`, `$select`, `$orderby`, `$top`), as a
    /// query string: what a skiptoken carries so the next page continues the same query.
    pub(super) carried: String,
}

/// Options that must reach every page of the same query.
const CARRIED: [&str; 4] = ["$filter", "$select", "$orderby", "$top"];

impl CollectionQuery {
    /// Parses a raw (percent-encoded) query string against the entity at this version root.
    /// `$skiptoken` replaces the other options with the ones it carries.
    pub(super) fn parse(
        raw_query: &str,
        entity: &EntityType,
        beta: bool,
    ) -> Result<CollectionQuery, QueryError> {
        let pairs = options(raw_query)?;
        if let Some((_, token)) = pairs.iter().find(|(k, _)| k == "$skiptoken") {
            let (cursor, carried) = decode_skiptoken(token)?;
            let mut query = CollectionQuery::from_pairs(&options(&carried)?, true, entity, beta)?;
            query.cursor = Some(cursor);
            return Ok(query);
        }
        CollectionQuery::from_pairs(&pairs, false, entity, beta)
    }

    fn from_pairs(
        pairs: &[(String, String)],
        from_token: bool,
        entity: &EntityType,
        beta: bool,
    ) -> Result<CollectionQuery, QueryError> {
        let mut query = CollectionQuery::default();
        let mut carried = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            match name.as_str() {
                "$filter" => query.filter = Some(Filter::parse(value, entity, beta)?),
                "$select" => query.select = Some(Selection::parse(value, entity, beta)?),
                "$orderby" => query.orderby = parse_orderby(value, entity, beta)?,
                "$top" => query.top = Some(parse_number("$top", value)?.min(MAX_TOP)),
                "$skip" => query.skip = parse_number("$skip", value)?,
                "$count" => {
                    query.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return bad(format!("Invalid $count: '{value}' (use true or false).")),
                    }
                }
                "$skiptoken" if !from_token => {}
                // Harmless here: there is nothing to expand.
                "$expand" => {}
                other if other.starts_with('$') => {
                    return bad(format!("The query parameter '{other}' is not supported on this resource."));
                }
                // Graph ignores parameters that are not system query options.
                _ => {}
            }
            if name.starts_with('$') {
                query.sent.push(name.clone());
            }
            if CARRIED.contains(&name.as_str()) {
                carried.append_pair(name, value);
            }
        }
        query.carried = carried.finish();
        Ok(query)
    }

    /// The page size: `$top` when given, else the server's default.
    pub(super) fn page_size(&self, default: usize) -> usize {
        self.top.unwrap_or(default)
    }

    /// The top-level properties deciding which records match and in what order (`$filter`,
    /// `$orderby`): what producing a page must compute for every candidate.
    pub(super) fn scan_names(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if let Some(filter) = &self.filter {
            filter.fields(&mut fields);
        }
        fields.extend(self.orderby.iter().map(|key| key.field));
        let mut names: Vec<&'static str> = Vec::new();
        for field in fields {
            let name = field.parent().unwrap_or(field.path);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Whether the client sent this system query option (`$orderby`), here or in its skiptoken.
    pub(super) fn sent(&self, option: &str) -> bool {
        self.sent.iter().any(|sent| sent == option)
    }

    /// The `$skiptoken` for the page that starts at `cursor` of this query.
    pub(super) fn skiptoken(&self, cursor: Cursor) -> String {
        let position = match cursor {
            Cursor::AfterSlot(slot) => format!("a{slot}"),
            Cursor::Offset(offset) => format!("o{offset}"),
        };
        URL_SAFE_NO_PAD.encode(format!("{position}\n{}", self.carried))
    }
}

/// Parses a `$top`/`$skip` value: a non-negative integer.
fn parse_number(option: &str, value: &str) -> Result<usize, QueryError> {
    value
        .trim()
        .parse::<usize>()
        .or_else(|_| bad(format!("Invalid value '{value}' for {option}: expected a non-negative integer.")))
}

/// Decodes a raw query string into (name, value) pairs, refusing repeated system options.
fn options(raw_query: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        if name.starts_with('$') && pairs.iter().any(|(n, _)| *n == name) {
            return bad(format!(
                "Query option '{name}' was specified more than once, but it must be specified at most once."
            ));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

fn decode_skiptoken(token: &str) -> Result<(Cursor, String), QueryError> {
    let invalid = || QueryError(format!("Invalid $skiptoken '{token}'."));
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (position, carried) = text.split_once('\n').ok_or_else(invalid)?;
    let cursor = if let Some(slot) = position.strip_prefix('a') {
        Cursor::AfterSlot(slot.parse().map_err(|_| invalid())?)
    } else if let Some(offset) = position.strip_prefix('o') {
        Cursor::Offset(offset.parse().map_err(|_| invalid())?)
    } else {
        return Err(invalid());
    };
    Ok((cursor, carried.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graph::imported;
    use serde_json::json;

    const IMPORTED: EntityType = EntityType::of(&imported::IMPORTED, &imported::TYPE_NAMES);

    fn device(serial: &str, tag: Option<&str>, status: &str, code: i32) -> Record {
        let mut record = json!({
            "id": "d", "serialNumber": serial, "groupTag": tag,
            "state": {"deviceImportStatus": status, "deviceErrorCode": code},
        })
        .as_object()
        .unwrap()
        .clone();
        IMPORTED.complete(&mut record);
        record
    }

    fn parse(filter: &str) -> Result<Filter, QueryError> {
        Filter::parse(filter, &IMPORTED, false)
    }

    fn query(raw: &str) -> Result<CollectionQuery, QueryError> {
        CollectionQuery::parse(raw, &IMPORTED, false)
    }

    fn matches(filter: &str, d: &Record) -> bool {
        parse(filter).unwrap().matches(d)
    }

    #[test]
    fn comparisons_and_functions() {
        let d = device("PF3ABCDE", Some("Sales-EMEA"), "error", 806);
        assert!(matches("serialNumber eq 'PF3ABCDE'", &d));
        assert!(matches("serialNumber eq 'pf3abcde'", &d), "case-insensitive");
        assert!(!matches("serialNumber ne 'PF3ABCDE'", &d));
        assert!(matches("startswith(serialNumber,'PF')", &d));
        assert!(matches("contains(groupTag, 'emea')", &d));
        assert!(matches("endswith(groupTag,'EMEA')", &d));
        assert!(matches("state/deviceImportStatus eq 'error'", &d));
        assert!(matches("state/deviceErrorCode eq 806", &d));
        assert!(matches("state/deviceErrorCode gt 800 and state/deviceErrorCode lt 807", &d));
        assert!(matches("productKey eq null", &d));
        assert!(matches("groupTag ne null", &d));
        assert!(!matches("contains(productKey,'x')", &d), "null contains nothing");
    }

    #[test]
    fn precedence_parentheses_and_not() {
        let d = device("A1", Some("Kiosk"), "complete", 0);
        // and binds tighter than or.
        assert!(matches("groupTag eq 'Kiosk' or serialNumber eq 'x' and serialNumber eq 'y'", &d));
        assert!(!matches("(groupTag eq 'Kiosk' or serialNumber eq 'x') and serialNumber eq 'y'", &d));
        assert!(matches("not (groupTag eq 'Sales')", &d));
        assert!(matches("not startswith(serialNumber,'B') and not not groupTag eq 'kiosk'", &d));
        assert!(parse("a eq 'x' or b eq 'y'").unwrap_err().0.contains("'a'"), "unknown property is named");
    }

    #[test]
    fn doubled_quotes_are_one_quote() {
        let d = device("X", Some("O'Brien-Lab"), "unknown", 0);
        assert!(matches("groupTag eq 'O''Brien-Lab'", &d));
        assert!(matches("contains(groupTag,'''')", &d));
        let tokens = tokenize("'it''s'").unwrap();
        assert_eq!(tokens[0].kind, TokenKind::Text("it's".into()));
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("", "empty"),
            ("serialNumber", "operator"),
            ("serialNumber eq", "value"),
            ("serialNumber eq 'x", "unterminated"),
            ("serialNumber like 'x'", "unknown operator 'like'"),
            ("foo eq 'x'", "property named 'foo'"),
            ("state/deviceImportStatus eq 'done'", "'done' is not a valid value"),
            ("state/deviceErrorCode eq 'x'", "cannot be compared"),
            ("serialNumber eq 5", "cannot be compared"),
            ("contains(state/deviceErrorCode,'8')", "needs a string property"),
            ("substringof('a',serialNumber)", "unknown function"),
            ("(serialNumber eq 'x'", "expected ')'"),
            ("serialNumber eq 'x' serialNumber", "unexpected 'serialNumber'"),
            ("serialNumber eq 'x' # 1", "unexpected character '#'"),
        ];
        for (filter, fragment) in cases {
            let err = parse(filter).unwrap_err().0;
            assert!(err.contains(fragment), "{filter:?}: {err}");
        }
    }

    #[test]
    fn scans_name_what_they_read() {
        let q = query("$filter=startswith(hardwareIdentifier,'T0')%20and%20state/deviceErrorCode%20eq%201&$orderby=serialNumber").unwrap();
        assert_eq!(q.scan_names(), ["hardwareIdentifier", "state", "serialNumber"]);
        assert!(query("$filter=groupTag%20eq%20'x'").unwrap().scan_names() == ["groupTag"]);
    }

    #[test]
    fn select_and_orderby() {
        let s = Selection::parse("serialNumber, state", &IMPORTED, false).unwrap();
        assert!(s.includes("id") && s.includes("serialNumber") && s.includes("state"));
        assert!(!s.includes("groupTag"));
        assert!(Selection::parse("*", &IMPORTED, false).unwrap().includes("groupTag"));
        assert!(Selection::parse("nope", &IMPORTED, false).unwrap_err().0.contains("'nope'"));
        let keys = parse_orderby("state/deviceImportStatus desc, serialNumber", &IMPORTED, false).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].descending && !keys[1].descending);
        assert!(parse_orderby("serialNumber sideways", &IMPORTED, false).is_err());
    }

    #[test]
    fn skiptoken_carries_the_query() {
        let first = query("$filter=groupTag%20eq%20'Kiosk'&$top=5&$count=true&$skip=2").unwrap();
        assert!(first.count);
        assert_eq!(first.skip, 2);
        let token = first.skiptoken(Cursor::AfterSlot(41));
        let next = query(&format!("$skiptoken={token}")).unwrap();
        assert_eq!(next.cursor, Some(Cursor::AfterSlot(41)));
        assert_eq!(next.filter, first.filter);
        assert_eq!(next.top, Some(5));
        assert!(!next.count, "count only on the first page");
        assert_eq!(next.skip, 0, "skip is already inside the cursor");
        assert!(query("$skiptoken=garbage!").is_err());
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(query("$top=5000").unwrap().top, Some(MAX_TOP));
        assert!(query("$top=-1").is_err());
        assert!(query("$top=1&$top=2").is_err());
        assert!(query("$count=maybe").is_err());
        assert!(query("$search=x").is_err());
        assert!(query("api-version=1").is_ok());
    }
}

//! The OVSDB data model (RFC 7047 §5.1): atoms, and the datums (sets and maps) that every
//! column holds.
//!
//! Every column value is a [`Datum`]: a set of atoms or a map from atoms to atoms. A scalar
//! column (exactly one value) is a set of one; an optional column is a set of zero or one.
//! Keeping one representation makes the update2 diff rule uniform: a modify carries the
//! symmetric difference of sets and the changed pairs of maps, except for columns of at most
//! one element (scalars and optionals), whose new value replaces the old (see
//! [`Datum::apply_diff`]; this is what ovsdb-server 3.1 sends, checked by the tests against
//! it).
//!
//! Atoms order totally (reals by `total_cmp`), so sets and maps are `BTreeSet`/`BTreeMap`:
//! equal data compare equal whatever order the server listed them in, and the JSON a datum
//! prints is canonical.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::schema::{AtomicType, BaseType, ColumnType};

/// Why a JSON value is not the atom or datum expected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    #[error("'{0}' is not a UUID")]
    BadUuid(String),
    #[error("expected {expected} atom, got {got}")]
    WrongAtom { expected: AtomicType, got: String },
    #[error("{0} is not an OVSDB atom")]
    NotAnAtom(String),
    #[error("{0} is not an OVSDB set")]
    NotASet(String),
    #[error("{0} is not an OVSDB map")]
    NotAMap(String),
    #[error("the map has key {0} twice")]
    DuplicateKey(String),
    #[error("a map diff was applied to a set column, or a set diff to a map column")]
    DiffKind,
}

/// A 128-bit row or transaction identifier, printed in the 8-4-4-4-12 hex form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID (OVSDB's "no transaction id").
    pub const ZERO: Uuid = Uuid([0; 16]);

    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl FromStr for Uuid {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        let bad = || DataError::BadUuid(s.chars().take(64).collect());
        let b = s.as_bytes();
        if b.len() != 36 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
                continue;
            }
            let v = (c as char).to_digit(16).ok_or_else(bad)? as u8;
            out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
            nibbles += 1;
        }
        Ok(Uuid(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One OVSDB atom. `NamedUuid` only appears inside a transaction (a row inserted by an
/// earlier operation of the same transaction); the server never sends one.
#[derive(Clone, Debug)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// The default atom of a type (RFC 7047: 0, 0.0, false, "", the zero UUID).
    pub fn default_of(t: AtomicType) -> Atom {
        match t {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::ZERO),
        }
    }

    pub fn string(s: impl Into<String>) -> Atom {
        Atom::String(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Reads an atom; with `want`, checks (and for reals, converts) its type.
    pub fn from_json(v: &Value, want: Option<AtomicType>) -> Result<Atom, DataError> {
        let atom = match v {
            Value::Number(n) => match (n.as_i64(), want) {
                (Some(i), Some(AtomicType::Real)) => Atom::Real(i as f64),
                (Some(i), _) => Atom::Integer(i),
                (None, _) => Atom::Real(n.as_f64().ok_or_else(|| not_atom(v))?),
            },
            Value::Bool(b) => Atom::Boolean(*b),
            Value::String(s) => Atom::String(s.clone()),
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1), a.len()) {
                (Some("uuid"), Some(Value::String(s)), 2) => Atom::Uuid(s.parse()?),
                (Some("named-uuid"), Some(Value::String(s)), 2) => Atom::NamedUuid(s.clone()),
                _ => return Err(not_atom(v)),
            },
            _ => return Err(not_atom(v)),
        };
        if let Some(t) = want
            && atom.atomic_type() != Some(t)
            && !(t == AtomicType::Uuid && matches!(atom, Atom::NamedUuid(_)))
        {
            return Err(DataError::WrongAtom {
                expected: t,
                got: short(v),
            });
        }
        Ok(atom)
    }

    pub fn atomic_type(&self) -> Option<AtomicType> {
        Some(match self {
            Atom::Integer(_) => AtomicType::Integer,
            Atom::Real(_) => AtomicType::Real,
            Atom::Boolean(_) => AtomicType::Boolean,
            Atom::String(_) => AtomicType::String,
            Atom::Uuid(_) => AtomicType::Uuid,
            Atom::NamedUuid(_) => return None,
        })
    }

    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn not_atom(v: &Value) -> DataError {
    DataError::NotAnAtom(short(v))
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Atom {}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Atom {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use Atom::*;
        match (self, other) {
            (Integer(a), Integer(b)) => a.cmp(b),
            (Real(a), Real(b)) => a.total_cmp(b),
            (Boolean(a), Boolean(b)) => a.cmp(b),
            (String(a), String(b)) | (NamedUuid(a), NamedUuid(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// A column value: a set of atoms or a map of atom to atom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

impl Datum {
    pub fn empty_set() -> Datum {
        Datum::Set(BTreeSet::new())
    }

    pub fn one(a: Atom) -> Datum {
        Datum::Set(BTreeSet::from([a]))
    }

    pub fn set(atoms: impl IntoIterator<Item = Atom>) -> Datum {
        Datum::Set(atoms.into_iter().collect())
    }

    pub fn map(pairs: impl IntoIterator<Item = (Atom, Atom)>) -> Datum {
        Datum::Map(pairs.into_iter().collect())
    }

    /// A string-to-string map (`other_config`, `status`, ...).
    pub fn string_map<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Datum {
        Datum::map(
            pairs
                .into_iter()
                .map(|(k, v)| (Atom::String(k.into()), Atom::String(v.into()))),
        )
    }

    /// The value a column of type `t` has when a row omits it.
    pub fn default_of(t: &ColumnType) -> Datum {
        match (&t.value, t.min) {
            (Some(_), _) => Datum::Map(BTreeMap::new()),
            (None, 0) => Datum::empty_set(),
            (None, _) => Datum::one(Atom::default_of(t.key.atomic)),
        }
    }

    /// Reads a datum; with a type, checks the atoms against it (a map type requires the
    /// `["map", ...]` form).
    pub fn from_json(v: &Value, t: Option<&ColumnType>) -> Result<Datum, DataError> {
        let key_t = t.map(|t| t.key.atomic);
        let is_map = t.map(|t| t.value.is_some());
        let tagged = v
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| a[0].as_str().map(|tag| (tag, &a[1])));
        match tagged {
            Some(("map", body)) if is_map != Some(false) => {
                let val_t = t
                    .and_then(|t| t.value.as_ref())
                    .map(|b: &BaseType| b.atomic);
                let pairs = body
                    .as_array()
                    .ok_or_else(|| DataError::NotAMap(short(v)))?;
                let mut map = BTreeMap::new();
                for p in pairs {
                    let kv = p
                        .as_array()
                        .filter(|kv| kv.len() == 2)
                        .ok_or_else(|| DataError::NotAMap(short(v)))?;
                    let k = Atom::from_json(&kv[0], key_t)?;
                    let val = Atom::from_json(&kv[1], val_t)?;
                    if map.insert(k, val).is_some() {
                        return Err(DataError::DuplicateKey(short(&kv[0])));
                    }
                }
                Ok(Datum::Map(map))
            }
            _ if is_map == Some(true) => Err(DataError::NotAMap(short(v))),
            Some(("set", body)) => {
                let items = body
                    .as_array()
                    .ok_or_else(|| DataError::NotASet(short(v)))?;
                let mut set = BTreeSet::new();
                for item in items {
                    set.insert(Atom::from_json(item, key_t)?);
                }
                Ok(Datum::Set(set))
            }
            _ => Ok(Datum::one(Atom::from_json(v, key_t)?)),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s.first().map(Atom::to_json).unwrap_or(Value::Null),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Applies an update2 "modify" diff for a column of type `t`: a column of at most one
    /// element takes the new value; a set toggles each listed element (the diff is the symmetric difference);
    /// a map removes a listed pair whose key and value it has, replaces the value of a listed
    /// key it has with another value, and adds a listed key it lacks.
    pub fn apply_diff(&mut self, diff: Datum, t: &ColumnType) -> Result<(), DataError> {
        if !t.is_composite() {
            *self = diff;
            return Ok(());
        }
        match (self, diff) {
            (Datum::Set(cur), Datum::Set(d)) => {
                for a in d {
                    if !cur.remove(&a) {
                        cur.insert(a);
                    }
                }
                Ok(())
            }
            (Datum::Map(cur), Datum::Map(d)) => {
                for (k, v) in d {
                    match cur.get(&k) {
                        Some(old) if *old == v => {
                            cur.remove(&k);
                        }
                        _ => {
                            cur.insert(k, v);
                        }
                    }
                }
                Ok(())
            }
            // An empty map diff can arrive as an empty set (`["set", []]` is how an empty
            // value of any kind may print); nothing to do.
            (Datum::Map(_), Datum::Set(d)) if d.is_empty() => Ok(()),
            _ => Err(DataError::DiffKind),
        }
    }

    /// The single atom of a scalar or a present optional value.
    pub fn first(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) => s.first(),
            Datum::Map(_) => None,
        }
    }

    pub fn as_set(&self) -> Option<&BTreeSet<Atom>> {
        match self {
            Datum::Set(s) => Some(s),
            Datum::Map(_) => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<Atom, Atom>> {
        match self {
            Datum::Map(m) => Some(m),
            Datum::Set(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Datum::Set(s) => s.len(),
            Datum::Map(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    fn ty(v: Value) -> ColumnType {
        ColumnType::from_json(&v).unwrap()
    }

    #[test]
    fn uuid_round_trips_and_rejects_garbage() {
        let s = "36aa1d3c-7b43-4d6f-9c1e-0123456789ab";
        let u: Uuid = s.parse().unwrap();
        assert_eq!(u.to_string(), s);
        for bad in [
            "",
            "36aa1d3c-7b43-4d6f-9c1e-0123456789a",
            "36aa1d3c+7b43-4d6f-9c1e-0123456789ab",
            "36aa1d3c-7b43-4d6f-9c1e-0123456789ag",
            "36aa1d3c-7b43-4d6f-9c1e-0123456789éa",
        ] {
            assert!(bad.parse::<Uuid>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn datums_read_and_print_canonically() {
        let set_t = ty(json!({"key": "integer", "min": 0, "max": "unlimited"}));
        let d = Datum::from_json(&json!(["set", [3, 1, 2]]), Some(&set_t)).unwrap();
        assert_eq!(d.to_json(), json!(["set", [1, 2, 3]]));
        let one = Datum::from_json(&json!(7), Some(&set_t)).unwrap();
        assert_eq!(one.to_json(), json!(7));
        let map_t = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let m = Datum::from_json(&json!(["map", [["b", "2"], ["a", "1"]]]), Some(&map_t)).unwrap();
        assert_eq!(m.to_json(), json!(["map", [["a", "1"], ["b", "2"]]]));
        assert!(Datum::from_json(&json!(["map", [["a", "1"], ["a", "2"]]]), Some(&map_t)).is_err());
        assert!(Datum::from_json(&json!("x"), Some(&map_t)).is_err());
        assert!(Datum::from_json(&json!(["set", ["x"]]), Some(&set_t)).is_err());
        let real_t = ty(json!("real"));
        assert_eq!(
            Datum::from_json(&json!(2), Some(&real_t)).unwrap(),
            Datum::one(Atom::Real(2.0))
        );
        let uuid_t = ty(json!({"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": 1}));
        let u = Datum::from_json(
            &json!(["uuid", "36aa1d3c-7b43-4d6f-9c1e-0123456789ab"]),
            Some(&uuid_t),
        )
        .unwrap();
        assert_eq!(u.first().and_then(Atom::as_uuid).unwrap().0[0], 0x36);
        assert!(Datum::from_json(&json!(["uuid", "nope"]), Some(&uuid_t)).is_err());
        assert!(Datum::from_json(&json!({"a": 1}), None).is_err());
    }

    #[test]
    fn diffs_follow_the_update2_rules() {
        let scalar = ty(json!("integer"));
        let mut d = Datum::one(Atom::Integer(1));
        d.apply_diff(Datum::one(Atom::Integer(5)), &scalar).unwrap();
        assert_eq!(d, Datum::one(Atom::Integer(5)));

        // Optional columns take the new value too: {1} -> {2} arrives as 2, {2} -> {} as [].
        let opt = ty(json!({"key": "integer", "min": 0, "max": 1}));
        let mut d = Datum::one(Atom::Integer(1));
        d.apply_diff(Datum::one(Atom::Integer(2)), &opt).unwrap();
        assert_eq!(d, Datum::one(Atom::Integer(2)));
        d.apply_diff(Datum::empty_set(), &opt).unwrap();
        assert!(d.is_empty());

        // Sets of more than one element diff as the symmetric difference.
        let set_t = ty(json!({"key": "integer", "min": 0, "max": 4096}));
        let mut d = Datum::set([Atom::Integer(1), Atom::Integer(2)]);
        d.apply_diff(Datum::set([Atom::Integer(2), Atom::Integer(3)]), &set_t)
            .unwrap();
        assert_eq!(d, Datum::set([Atom::Integer(1), Atom::Integer(3)]));

        let map_t = ty(json!({"key": "string", "value": "string", "min": 0, "max": "unlimited"}));
        let mut m = Datum::string_map([("keep", "1"), ("drop", "2"), ("change", "3")]);
        m.apply_diff(
            Datum::string_map([("drop", "2"), ("change", "4"), ("add", "5")]),
            &map_t,
        )
        .unwrap();
        assert_eq!(
            m,
            Datum::string_map([("keep", "1"), ("change", "4"), ("add", "5")])
        );
        assert_eq!(
            m.apply_diff(Datum::one(Atom::string("x")), &map_t),
            Err(DataError::DiffKind)
        );
    }

    #[test]
    fn atoms_order_totally() {
        let mut s = BTreeSet::new();
        s.insert(Atom::Real(f64::NAN));
        s.insert(Atom::Real(1.0));
        s.insert(Atom::Integer(1));
        s.insert(Atom::Real(f64::NAN));
        assert_eq!(s.len(), 3);
    }
}

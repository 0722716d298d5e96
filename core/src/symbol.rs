//! Symbol interning: names become a [`SymbolId`] once, events carry only the id.

use core::fmt;

/// Index of a symbol in its [`SymbolTable`]; the only symbol identity an event carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "rkyv",
    derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)
)]
#[cfg_attr(feature = "rkyv", rkyv(derive(Debug, PartialEq)))]
#[repr(transparent)]
pub struct SymbolId(pub u16);

impl SymbolId {
    /// The id as a table index.
    #[inline]
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Longest symbol name we accept (Binance names are at most ~20 bytes).
pub const MAX_SYMBOL_LEN: usize = 32;

/// A symbol name, upper-case ASCII, stored inline so lookups never allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SymbolName {
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
}

impl SymbolName {
    /// Upper-cases `name`; `None` when it is empty, too long, or not `[A-Za-z0-9_]`.
    #[must_use]
    pub fn new(name: &[u8]) -> Option<Self> {
        if name.is_empty() || name.len() > MAX_SYMBOL_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        for (dst, &b) in bytes.iter_mut().zip(name) {
            if !(b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            *dst = b.to_ascii_uppercase();
        }
        Some(Self {
            len: name.len() as u8,
            bytes,
        })
    }

    /// The upper-case name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics and `_` are ever stored (checked in `new`).
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for SymbolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SymbolName({})", self.as_str())
    }
}

impl fmt::Display for SymbolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a symbol could not be interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SymbolError {
    /// Empty, longer than [`MAX_SYMBOL_LEN`], or not `[A-Za-z0-9_]`.
    InvalidName,
    /// The table already holds `u16::MAX` symbols.
    TableFull,
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName => f.write_str("invalid symbol name"),
            Self::TableFull => f.write_str("symbol table full"),
        }
    }
}

impl std::error::Error for SymbolError {}

/// Interns symbol names to dense [`SymbolId`]s in first-seen order.
///
/// Lookups compare case-insensitively (stream names are lower case, payloads upper case) and
/// never allocate. The table is a short vector scanned linearly: an engine serves a handful of
/// symbols per process (DESIGN.md section 8), where a scan of inline names beats hashing.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    names: Vec<SymbolName>,
}

impl SymbolTable {
    /// An empty table.
    #[must_use]
    pub const fn new() -> Self {
        Self { names: Vec::new() }
    }

    /// The id of `name` if it was interned (case-insensitive).
    #[inline]
    #[must_use]
    pub fn get(&self, name: &[u8]) -> Option<SymbolId> {
        self.names
            .iter()
            .position(|n| {
                usize::from(n.len) == name.len() && n.bytes[..name.len()].eq_ignore_ascii_case(name)
            })
            .map(|i| SymbolId(i as u16))
    }

    /// The id of `name`, interning it on first sight.
    ///
    /// # Errors
    /// [`SymbolError`] for an invalid name or a full table.
    pub fn intern(&mut self, name: &[u8]) -> Result<SymbolId, SymbolError> {
        if let Some(id) = self.get(name) {
            return Ok(id);
        }
        let name = SymbolName::new(name).ok_or(SymbolError::InvalidName)?;
        let id = u16::try_from(self.names.len()).map_err(|_| SymbolError::TableFull)?;
        if id == u16::MAX {
            return Err(SymbolError::TableFull);
        }
        self.names.push(name);
        Ok(SymbolId(id))
    }

    /// The upper-case name of `id`, or `"?"` for an id this table never issued.
    #[must_use]
    pub fn name(&self, id: SymbolId) -> &str {
        self.names.get(id.index()).map_or("?", SymbolName::as_str)
    }

    /// Number of interned symbols.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when nothing is interned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Names in id order.
    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (SymbolId(i as u16), n.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_case_insensitively_in_order() {
        let mut t = SymbolTable::new();
        let btc = t.intern(b"btcusdt").unwrap();
        let eth = t.intern(b"ETHUSDT").unwrap();
        assert_eq!((btc, eth), (SymbolId(0), SymbolId(1)));
        assert_eq!(t.intern(b"BTCUSDT"), Ok(btc));
        assert_eq!(t.get(b"EthUsdt"), Some(eth));
        assert_eq!(t.name(btc), "BTCUSDT");
        assert_eq!(t.name(SymbolId(9)), "?");
        assert_eq!(t.get(b"BTCUSD"), None);
    }

    #[test]
    fn rejects_bad_names() {
        let mut t = SymbolTable::new();
        assert_eq!(t.intern(b""), Err(SymbolError::InvalidName));
        assert_eq!(t.intern(b"btc usdt"), Err(SymbolError::InvalidName));
        assert_eq!(t.intern(&[b'A'; 33]), Err(SymbolError::InvalidName));
        assert!(t.is_empty());
    }
}

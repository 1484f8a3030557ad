//! Host-wide counter totals in the tier's `counters` database: each
//! process adds what it counted since its last fold, in one write
//! transaction every few seconds (never per handshake), so `sesscb stats`
//! can show every process's outcomes, including those of processes gone.

use super::{Tier, TierError, read_u64};

impl Tier {
    /// Adds each `(name, delta)` to its stored total, in one transaction.
    pub fn add_totals(&self, deltas: &[(String, u64)]) -> Result<(), TierError> {
        if deltas.iter().all(|(_, n)| *n == 0) {
            return Ok(());
        }
        let mut txn = self.env.write_txn()?;
        for (name, delta) in deltas.iter().filter(|(_, n)| *n != 0) {
            let total = read_u64(self.counters.get(&txn, name.as_bytes())?).wrapping_add(*delta);
            self.counters.put(&mut txn, name.as_bytes(), &total.to_be_bytes())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Every stored total, by name (names in byte order).
    pub fn totals(&self) -> Result<Vec<(String, u64)>, TierError> {
        let txn = self.env.read_txn()?;
        let mut out = Vec::new();
        for row in self.counters.iter(&txn)? {
            let (name, value) = row?;
            out.push((String::from_utf8_lossy(name).into_owned(), read_u64(Some(value))));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn deltas_from_several_writers_add_up() {
        let dir = std::env::temp_dir().join(format!("sesscb-totals-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let a = Tier::open(&dir, 1 << 20).unwrap();
        assert_eq!(a.totals().unwrap(), vec![]);
        a.add_totals(&[("stores.ok".into(), 3), ("lookups.miss".into(), 0)]).unwrap();
        a.add_totals(&[("stores.ok".into(), 4), ("lookups.local_hit".into(), 2)]).unwrap();
        let want = vec![("lookups.local_hit".to_string(), 2), ("stores.ok".to_string(), 7)];
        assert_eq!(a.totals().unwrap(), want, "a zero delta writes nothing; others add");
        drop(a);
        let again = Tier::open(&dir, 0).unwrap();
        assert_eq!(again.totals().unwrap().len(), 2, "totals outlive the processes");
        assert_eq!(again.occupancy().unwrap().entries, 0, "counters are not entries");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

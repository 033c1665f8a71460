//! Opening the redb databases kept under a data dir (feature `storage`): the pool's
//! `pool.redb`, the devnet's `devnet.redb` and the node backend's `nockchain-node.redb`.

use std::path::Path;

use redb::{Database, TableError, WriteTransaction};

use crate::CoreError;

/// Opens (or creates) the database `file` inside `dir`, creating `dir` first; with no `dir`, a
/// fresh in-memory database (for embedders and tests that keep nothing). `tables` opens every
/// table the caller uses, in one committed transaction, so that readers never meet a missing
/// table.
///
/// ```
/// use redb::TableDefinition;
///
/// const NAMES: TableDefinition<u64, &str> = TableDefinition::new("names");
/// let dir = std::env::temp_dir().join(format!("nockpool-open-db-{}", std::process::id()));
/// let db = nockpool_core::open_db(Some(&dir), "example.redb", |txn| {
///     txn.open_table(NAMES)?;
///     Ok(())
/// })?;
/// drop(db);
/// assert!(dir.join("example.redb").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nockpool_core::CoreError>(())
/// ```
pub fn open_db(
    dir: Option<&Path>,
    file: &str,
    tables: impl FnOnce(&WriteTransaction) -> Result<(), TableError>,
) -> Result<Database, CoreError> {
    let path = dir.map(|dir| dir.join(file));
    let failed = |reason: String| CoreError::Database {
        path: path.clone(),
        reason,
    };
    let db = match dir {
        None => Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| failed(e.to_string()))?,
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CoreError::DataDir {
                dir: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
            Database::create(dir.join(file)).map_err(|e| failed(e.to_string()))?
        }
    };
    let txn = db.begin_write().map_err(|e| failed(e.to_string()))?;
    tables(&txn).map_err(|e| failed(format!("creating its tables: {e}")))?;
    txn.commit().map_err(|e| failed(e.to_string()))?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn with_t(txn: &WriteTransaction) -> Result<(), TableError> {
        txn.open_table(T).map(|_| ())
    }

    #[test]
    fn a_second_open_of_the_same_file_names_it() {
        let dir =
            std::env::temp_dir().join(format!("nockpool-open-db-test-{}", std::process::id()));
        let first = open_db(Some(&dir), "x.redb", with_t).unwrap();
        // The table exists for readers at once.
        assert!(first.begin_read().unwrap().open_table(T).is_ok());
        let second = open_db(Some(&dir), "x.redb", with_t);
        match second {
            Err(CoreError::Database { path: Some(p), .. }) => assert_eq!(p, dir.join("x.redb")),
            other => panic!("expected a database error, got {:?}", other.map(|_| ())),
        }
        drop(first);
        assert!(open_db(Some(&dir), "x.redb", with_t).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_data_dir_under_a_file_is_refused() {
        let file =
            std::env::temp_dir().join(format!("nockpool-open-db-file-{}", std::process::id()));
        std::fs::write(&file, b"not a dir").unwrap();
        let result = open_db(Some(&file.join("sub")), "x.redb", with_t);
        assert!(matches!(result, Err(CoreError::DataDir { .. })));
        std::fs::remove_file(&file).unwrap();
        assert!(open_db(None, "ignored.redb", with_t).is_ok());
    }
}

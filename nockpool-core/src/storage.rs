//! Opening the redb databases kept under a data dir (feature `storage`): the pool's
//! `pool.redb`, the devnet's `devnet.redb` and the node backend's `nockchain-node.redb`.

use std::path::Path;

use redb::Database;

use crate::CoreError;

/// Opens (or creates) the database `file` inside `dir`, creating `dir` first; with no `dir`, a
/// fresh in-memory database (for embedders and tests that keep nothing).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("nockpool-open-db-{}", std::process::id()));
/// let db = nockpool_core::open_db(Some(&dir), "example.redb")?;
/// drop(db);
/// assert!(dir.join("example.redb").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), nockpool_core::CoreError>(())
/// ```
pub fn open_db(dir: Option<&Path>, file: &str) -> Result<Database, CoreError> {
    let Some(dir) = dir else {
        return Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| CoreError::Database {
                path: None,
                reason: e.to_string(),
            });
    };
    std::fs::create_dir_all(dir).map_err(|e| CoreError::DataDir {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let path = dir.join(file);
    Database::create(&path).map_err(|e| CoreError::Database {
        path: Some(path),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_file_names_it() {
        let dir =
            std::env::temp_dir().join(format!("nockpool-open-db-test-{}", std::process::id()));
        let first = open_db(Some(&dir), "x.redb").unwrap();
        let second = open_db(Some(&dir), "x.redb");
        match second {
            Err(CoreError::Database { path: Some(p), .. }) => assert_eq!(p, dir.join("x.redb")),
            other => panic!("expected a database error, got {:?}", other.map(|_| ())),
        }
        drop(first);
        assert!(open_db(Some(&dir), "x.redb").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_data_dir_under_a_file_is_refused() {
        let file =
            std::env::temp_dir().join(format!("nockpool-open-db-file-{}", std::process::id()));
        std::fs::write(&file, b"not a dir").unwrap();
        let result = open_db(Some(&file.join("sub")), "x.redb");
        assert!(matches!(result, Err(CoreError::DataDir { .. })));
        std::fs::remove_file(&file).unwrap();
        assert!(open_db(None, "ignored.redb").is_ok());
    }
}

//! The users clients log in as (`--users-file`), how their passwords are stored, and the one
//! login check every front end (native hello, RESP `AUTH`/`HELLO`, HTTP Basic) goes through.
//!
//! A password line is `argon2id` (a PHC string made by `kvs-node hash-password`: salted and
//! slow, so a stolen users file is hard to reverse), or `sha256:<hex>` or plain text, which still
//! work and are named in the log as weaker. Verifying an argon2id password costs some 20 ms of
//! CPU, so a password that verified is remembered (its SHA-256, in memory only) and checked
//! cheaply next time: the HTTP page sends its credentials with every request.

use crate::credentials::{read_private_file, Access};
use crate::error::NodeError;
use crate::login_throttle::LoginThrottle;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// How a password is stored in the users file.
enum Stored {
    /// SHA-256 of it (a `sha256:` line, or plain text hashed at load): unsalted, fast to guess.
    Sha256([u8; 32]),
    /// An argon2id PHC string.
    Argon2(String),
}

/// One user of a users file.
struct User {
    name: String,
    access: Access,
    password: Stored,
    /// SHA-256 of the password last verified against an argon2id line.
    verified: Mutex<Option<[u8; 32]>>,
}

/// Why a login failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginRefused {
    /// No such user, or not its password.
    WrongPass,
    /// The source address failed too often lately; it may try again after this long.
    Throttled(Duration),
}

/// The users clients log in as (`--users-file`).
#[derive(Clone)]
pub struct Users(Arc<Inner>);

struct Inner {
    users: Vec<User>,
    throttle: Mutex<LoginThrottle>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.users.iter().map(|u| (&u.name, u.access))).finish()
    }
}

/// Makes the argon2id PHC string of `password` for a users file (`kvs-node hash-password`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(|e| e.to_string())
}

fn sha256(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Users {
    /// Reads a users file: one `<name> <role> <password>` a line, role `read`, `write` or `admin`,
    /// password an argon2id PHC string, `sha256:<hex>` or plain text; `#` starts a comment.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = read_private_file(path, "--users-file")?;
        let users =
            Users::parse(&text).map_err(|e| NodeError::Config(format!("--users-file {}: {e}", path.display())))?;
        for user in users.0.users.iter().filter(|u| matches!(u.password, Stored::Sha256(_))) {
            tracing::warn!(
                user = %user.name,
                "password stored as plain text or unsalted SHA-256; `kvs-node hash-password` makes a salted argon2id line"
            );
        }
        Ok(users)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut users: Vec<User> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, role, password] = fields[..] else {
                return Err(format!("line {}: expected `<name> <role> <password>`", n + 1));
            };
            let access = match role {
                "read" => Access::Read,
                "write" => Access::Write,
                "admin" => Access::Admin,
                other => return Err(format!("line {}: unknown role '{other}' (read, write, admin)", n + 1)),
            };
            let password = if let Some(hex) = password.strip_prefix("sha256:") {
                let bytes = hex::decode(hex).map_err(|e| format!("line {}: bad sha256 hex: {e}", n + 1))?;
                Stored::Sha256(bytes.try_into().map_err(|_| format!("line {}: a sha256 is 32 bytes", n + 1))?)
            } else if password.starts_with("$argon2") {
                let parsed =
                    PasswordHash::new(password).map_err(|e| format!("line {}: bad argon2 string: {e}", n + 1))?;
                if parsed.hash.is_none() || parsed.salt.is_none() {
                    return Err(format!("line {}: bad argon2 string: no salt or hash", n + 1));
                }
                Stored::Argon2(password.to_string())
            } else {
                Stored::Sha256(sha256(password))
            };
            if users.iter().any(|u| u.name == name) {
                return Err(format!("line {}: user '{name}' appears twice", n + 1));
            }
            users.push(User { name: name.to_string(), access, password, verified: Mutex::new(None) });
        }
        if users.is_empty() {
            return Err("no users".into());
        }
        Ok(Users(Arc::new(Inner { users, throttle: Mutex::default() })))
    }

    /// Logs `user` in from `source` at `now`: what it may do, if `password` is its password and
    /// the source has not failed too often lately (a failure is counted against it).
    pub fn log_in(&self, user: &str, password: &str, source: IpAddr, now: Instant) -> Result<Access, LoginRefused> {
        let throttle = || self.0.throttle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = throttle().wait(source, now) {
            return Err(LoginRefused::Throttled(wait));
        }
        // Checked with the throttle let go: an argon2 verification takes milliseconds, and other
        // sources' logins must not queue behind it.
        match self.check(user, password) {
            Some(access) => Ok(access),
            None => {
                throttle().failed(source, now);
                Err(LoginRefused::WrongPass)
            }
        }
    }

    /// What `user` may do, without a password: for a command another member forwards for a
    /// client that logged in there (`None`: no such user here).
    pub fn access_of(&self, user: &str) -> Option<Access> {
        self.0.users.iter().find(|u| u.name == user).map(|u| u.access)
    }

    /// What `user` may do, if `password` is its password.
    fn check(&self, user: &str, password: &str) -> Option<Access> {
        let found = self.0.users.iter().find(|u| u.name == user)?;
        let digest = sha256(password);
        let matches = match &found.password {
            Stored::Sha256(hash) => bool::from(hash.ct_eq(&digest)),
            Stored::Argon2(phc) => {
                let remembered = || found.verified.lock().unwrap_or_else(|p| p.into_inner());
                if remembered().is_some_and(|known| bool::from(known.ct_eq(&digest))) {
                    true
                } else {
                    // Verified with the cache let go: logins of this user must not queue behind it.
                    let hash = PasswordHash::new(phc).ok()?;
                    let ok = Argon2::default().verify_password(password.as_bytes(), &hash).is_ok();
                    if ok {
                        *remembered() = Some(digest);
                    }
                    ok
                }
            }
        };
        matches.then_some(found.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_file_reads_roles_and_every_password_form() {
        let hashed = hex::encode(Sha256::digest(b"s3cret"));
        let slow = hash_password("d0g").unwrap();
        let text =
            format!("# who\nalice admin pw1\nbob read sha256:{hashed}  # hashed\n\ncarol write pw3\ndan read {slow}\n");
        let users = Users::parse(&text).unwrap();
        assert_eq!(users.check("alice", "pw1"), Some(Access::Admin));
        assert_eq!(users.check("bob", "s3cret"), Some(Access::Read));
        assert_eq!(users.check("carol", "pw3"), Some(Access::Write));
        assert_eq!(users.check("dan", "d0g"), Some(Access::Read));
        assert_eq!(users.check("dan", "d0g"), Some(Access::Read), "remembered");
        assert_eq!(users.check("dan", "cat"), None);
        assert_eq!(users.check("alice", "wrong"), None);
        assert_eq!(users.check("nobody", "pw1"), None);
        assert!(slow.starts_with("$argon2id$"), "{slow}");
        assert!(Users::parse("dave superuser pw").unwrap_err().contains("unknown role"));
        assert!(Users::parse("eve read").unwrap_err().contains("expected"));
        assert!(Users::parse("eve read $argon2id$broken").unwrap_err().contains("bad argon2"));
    }

    #[test]
    fn failures_slow_down_their_source() {
        let users = Users::parse("alice admin pw1\n").unwrap();
        let (guesser, now) = (IpAddr::from([10, 0, 0, 1]), Instant::now());
        for _ in 0..crate::login_throttle::FREE_FAILURES {
            assert_eq!(users.log_in("alice", "guess", guesser, now), Err(LoginRefused::WrongPass));
        }
        assert!(matches!(users.log_in("alice", "pw1", guesser, now), Err(LoginRefused::Throttled(_))));
        assert_eq!(users.log_in("alice", "pw1", IpAddr::from([10, 0, 0, 2]), now), Ok(Access::Admin));
    }
}

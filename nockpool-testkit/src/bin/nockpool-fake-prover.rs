//! TEST-ONLY stand-in for an operator's prover program, used by nockpool-nockchain's tests of
//! `CommandProver`. It proves nothing: it follows the command contract of
//! `nockchain-prover.md` §3 (stdin = jam of the cause `[version commit nonce target pow-len]`,
//! stdout = jam of `[%command %pow %dumb-zkpow prf dig commit nonce]`, exit 0/2/1) with a fake
//! proof whose only object is `[%puzzle commit nonce pow-len p]`, `p` being the real puzzle
//! product of the nonce (`nockpool_pow::v5::V5Job::trace`), and the real version-5 digest of
//! the nonce (`nockpool_pow::v5::digest`), so the pool's sanity checks pass.
//!
//! Usage: `nockpool-fake-prover <mode>`, mode one of `ok`, `miss` (exit 2), `fail` (exit 1),
//! `garbage` (exit 0 with bytes that are not a jam), `hang` (never answers), `wrong-nonce`
//! (a well-formed poke for another nonce), `wrong-product` (object 0's product computed with a
//! zero nonce, as the superseded %5 draft prover did).

use std::io::{Read, Write};

use nockpool_core::noun::{cue, jam, Noun};
use nockpool_core::{Digest, Nonce};
use nockpool_pow::v5::V5Job;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "ok".into());
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("fake prover: cannot read stdin: {e}");
        std::process::exit(1);
    }
    eprintln!("fake prover: mode {mode}, {} bytes of cause", input.len());
    let cause = match cue(&input) {
        Ok(cause) => cause,
        Err(e) => {
            eprintln!("fake prover: the cause is not a jam: {e}");
            std::process::exit(1);
        }
    };
    let Some([version, commit, nonce, _target, pow_len]) = cause.as_tuple() else {
        eprintln!("fake prover: the cause is not [version commit nonce target pow-len]");
        std::process::exit(1);
    };
    let nonce = match mode.as_str() {
        "miss" => std::process::exit(2),
        "fail" => std::process::exit(1),
        "hang" => loop {
            std::thread::park();
        },
        "garbage" => {
            let _ = std::io::stdout().write_all(&[0u8, 0, 0, 0]);
            std::process::exit(0);
        }
        "wrong-nonce" => Noun::belts(&[9, 9, 9, 9, 9]),
        _ => nonce.clone(),
    };
    let (Some(commit_limbs), Some(nonce_limbs), Some(len)) =
        (commit.as_digest(), nonce.as_digest(), pow_len.as_u64())
    else {
        eprintln!("fake prover: commitment, nonce or pow-len is malformed");
        std::process::exit(1);
    };
    let digest = match nockpool_pow::v5::try_digest(commit_limbs.limbs(), nonce_limbs.limbs(), len)
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fake prover: {e}");
            std::process::exit(1);
        }
    };
    let product_nonce = if mode == "wrong-product" {
        [0; 5]
    } else {
        nonce_limbs.to_limbs()
    };
    let product = match (V5Job::new(commit_limbs, len), Nonce::new(product_nonce)) {
        (Ok(job), Ok(n)) => job.trace(&n).product,
        _ => {
            eprintln!("fake prover: cannot compute the puzzle product");
            std::process::exit(1);
        }
    };
    let object0 = Noun::tuple([
        Noun::cord("puzzle"),
        commit.clone(),
        nonce.clone(),
        pow_len.clone(),
        Noun::list(product.iter().map(|b| Noun::atom(b.value()))),
    ]);
    let proof = Noun::tuple([
        version.clone(),
        Noun::list([object0]),
        Noun::ZERO,
        Noun::ZERO,
    ]);
    let poke = Noun::tuple([
        Noun::cord("command"),
        Noun::cord("pow"),
        Noun::cord("dumb-zkpow"),
        proof,
        digest_atom(&digest),
        commit.clone(),
        nonce,
    ]);
    if std::io::stdout().write_all(&jam(&poke)).is_err() {
        std::process::exit(1);
    }
}

fn digest_atom(digest: &Digest) -> Noun {
    Noun::from_le_bytes(&digest.to_u320().to_le_bytes())
}

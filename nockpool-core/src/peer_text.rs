//! Text a peer sent (a worker name, a client version, a job id), made safe to show.

/// Longest peer-sent text kept by default, in characters (longer text is cut and marked).
pub const MAX_PEER_TEXT: usize = 128;

/// Text from a peer as it may reach a log line, a status page or an API: every control
/// character (newline, carriage return, tab, escape, bell, delete, the C1 range), every Unicode
/// line or paragraph separator and every bidirectional override becomes `?`, so a peer cannot
/// start a forged log line, move the cursor of an operator's terminal, or reorder what is shown;
/// the result is cut at `max_chars` characters, with `…` marking the cut. The one cleaner of
/// peer-controlled text in nockpool: use it wherever such text leaves the protocol.
///
/// ```
/// use nockpool_core::clean_peer_text;
/// assert_eq!(clean_peer_text("rig\n*** BLOCK FOUND ***", 64), "rig?*** BLOCK FOUND ***");
/// assert_eq!(clean_peer_text("abcdef", 3), "abc…");
/// ```
pub fn clean_peer_text(text: &str, max_chars: usize) -> String {
    let mut cleaned = String::with_capacity(text.len().min(max_chars * 4 + 3));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        cleaned.push(if is_unsafe(c) { '?' } else { c });
    }
    if chars.next().is_some() {
        cleaned.push('…');
    }
    cleaned
}

/// Characters that change how the text around them is shown rather than showing themselves.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{200E}' | '\u{200F}' | '\u{061C}' // direction marks
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{FEFF}' // byte-order mark / zero-width no-break space
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_and_overrides_are_replaced() {
        assert_eq!(
            clean_peer_text("v1\r\n*** BLOCK #999 FAKE ***\x1b[2J\x07\u{7f}\u{85}", 128),
            "v1??*** BLOCK #999 FAKE ***?[2J???"
        );
        assert_eq!(clean_peer_text("a\u{202E}b\u{2028}c\td", 128), "a?b?c?d");
        assert_eq!(clean_peer_text("rig-7 ünïcode ✓", 128), "rig-7 ünïcode ✓");
        assert_eq!(clean_peer_text("", 8), "");
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let long = "x".repeat(10 * 1024);
        let cut = clean_peer_text(&long, MAX_PEER_TEXT);
        assert_eq!(cut.chars().count(), MAX_PEER_TEXT + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(clean_peer_text("abc", 3), "abc");
    }

    proptest! {
        #[test]
        fn cleaned_text_is_one_safe_bounded_line(text in ".*", max in 0usize..200) {
            let cleaned = clean_peer_text(&text, max);
            prop_assert!(cleaned.chars().count() <= max + 1);
            prop_assert!(!cleaned.chars().any(is_unsafe));
            prop_assert!(!cleaned.contains('\n') && !cleaned.contains('\r'));
        }
    }
}

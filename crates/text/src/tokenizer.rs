//! Tokenizers: a character vocabulary of our own, or WordPiece/BPE trained with `tokenizers`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokenizers::decoders::bpe::BPEDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{AddedToken, Tokenizer};

/// Which tokenizer to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// One token per character of the corpus.
    Char,
    /// WordPiece (BERT), continuation pieces marked `##`.
    Wordpiece,
    /// Byte-pair encoding over characters, word ends marked `</w>`.
    Bpe,
}

/// The special tokens, in id order: their ids are the same for every kind.
const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const WORDPIECE_PREFIX: &str = "##";
const BPE_SUFFIX: &str = "</w>";
/// Tag of the saved file, so a foreign JSON file is recognised as such.
const FORMAT: &str = "autodidact-tokenizer";

/// A trained tokenizer with `[PAD]`=0, `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4.
#[derive(Clone, Debug)]
pub struct TextTokenizer {
    kind: TokenizerKind,
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Char {
        /// The corpus characters; character `chars[i]` has id `NUM_SPECIAL + i`.
        chars: Vec<char>,
        ids: HashMap<char, u32>,
    },
    Hf(Box<Tokenizer>),
}

/// The saved form: one JSON file for every kind.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    kind: TokenizerKind,
    /// Char kind: the whole vocabulary in id order, specials first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vocab: Option<Vec<String>>,
    /// WordPiece/BPE: the `tokenizers` crate's own JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokenizer: Option<serde_json::Value>,
}

impl TextTokenizer {
    pub const PAD: u32 = 0;
    pub const UNK: u32 = 1;
    pub const CLS: u32 = 2;
    pub const SEP: u32 = 3;
    pub const MASK: u32 = 4;
    /// Number of special tokens; every id below it is special.
    pub const NUM_SPECIAL: u32 = 5;

    /// Trains a tokenizer on `texts`.
    ///
    /// Char: every distinct character of the corpus, sorted, after the specials (`vocab_size` is
    /// not used). WordPiece/BPE: the `tokenizers` trainers with a whitespace-and-punctuation
    /// pre-tokenizer and no normaliser (case is kept), aiming at `vocab_size` tokens; a request too
    /// small for the corpus's alphabet is an error.
    pub fn train(kind: TokenizerKind, texts: &[String], vocab_size: usize) -> Result<Self> {
        if texts.iter().all(|t| t.is_empty()) {
            bail!("no text to train a {kind:?} tokenizer on");
        }
        let tokenizer = match kind {
            TokenizerKind::Char => {
                let distinct: BTreeSet<char> = texts.iter().flat_map(|t| t.chars()).collect();
                Self::from_chars(distinct.into_iter().collect())
            }
            TokenizerKind::Wordpiece | TokenizerKind::Bpe => {
                let hf = train_hf(kind, texts, vocab_size)
                    .map_err(|e| anyhow!("training the {kind:?} tokenizer: {e}"))?;
                Self::from_hf(kind, hf)?
            }
        };
        if kind != TokenizerKind::Char && tokenizer.vocab_size() > vocab_size {
            bail!(
                "a vocabulary of {vocab_size} is too small for this corpus: its characters alone \
                 give {} {kind:?} tokens; ask for more",
                tokenizer.vocab_size()
            );
        }
        Ok(tokenizer)
    }

    /// The token ids of `text`, without special tokens added (WordPiece/BPE read a special
    /// token's name written in the text, such as `[MASK]`, as that token; char does not).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match &self.inner {
            Inner::Char { ids, .. } => text
                .chars()
                .map(|c| ids.get(&c).copied().unwrap_or(Self::UNK))
                .collect(),
            // The models built here have an unknown token, so encoding does not fail; a foreign
            // model that does is answered with a single [UNK].
            Inner::Hf(hf) => hf
                .encode(text, false)
                .map(|enc| enc.get_ids().to_vec())
                .unwrap_or_else(|_| vec![Self::UNK]),
        }
    }

    /// The text of `ids`: `[PAD]` is dropped, other specials and out-of-range ids appear by name.
    /// Char: the characters concatenated; WordPiece: `##` pieces joined to their word, words
    /// separated by spaces; BPE: pieces joined up to their `</w>`, words separated by spaces.
    pub fn decode(&self, ids: &[u32]) -> String {
        let vocab = self.vocab_size();
        let ids = ids
            .iter()
            .filter(|&&id| id != Self::PAD)
            .map(|&id| if (id as usize) < vocab { id } else { Self::UNK });
        match &self.inner {
            Inner::Char { chars, .. } => ids
                .map(|id| match id.checked_sub(Self::NUM_SPECIAL) {
                    Some(i) => chars[i as usize].to_string(),
                    None => SPECIALS[id as usize].to_string(),
                })
                .collect(),
            Inner::Hf(hf) => {
                let ids: Vec<u32> = ids.collect();
                hf.decode(&ids, false).unwrap_or_else(|_| {
                    ids.iter()
                        .filter_map(|&id| hf.id_to_token(id))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }
        }
    }

    /// `[CLS]` and the text's tokens, cut to `max_len`.
    pub fn sequence(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![Self::CLS];
        ids.extend(self.encode(text));
        ids.truncate(max_len);
        ids
    }

    /// Number of token ids, specials included.
    pub fn vocab_size(&self) -> usize {
        match &self.inner {
            Inner::Char { chars, .. } => Self::NUM_SPECIAL as usize + chars.len(),
            Inner::Hf(hf) => hf.get_vocab_size(true),
        }
    }

    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// Whether `id` is one of the special tokens.
    pub fn is_special(id: u32) -> bool {
        id < Self::NUM_SPECIAL
    }

    /// Writes the tokenizer as one JSON file (to a temporary name, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let saved = match &self.inner {
            Inner::Char { chars, .. } => Saved {
                format: FORMAT.into(),
                kind: self.kind,
                vocab: Some(
                    SPECIALS
                        .iter()
                        .map(|s| s.to_string())
                        .chain(chars.iter().map(|c| c.to_string()))
                        .collect(),
                ),
                tokenizer: None,
            },
            Inner::Hf(hf) => Saved {
                format: FORMAT.into(),
                kind: self.kind,
                vocab: None,
                tokenizer: Some(
                    serde_json::to_value(hf.as_ref())
                        .context("serialising the tokenizers model")?,
                ),
            },
        };
        let json = serde_json::to_string(&saved).context("serialising the tokenizer")?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, json)
            .with_context(|| format!("{}: cannot write", Path::new(&tmp).display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(())
    }

    /// Reads a tokenizer written by [`TextTokenizer::save`].
    pub fn load(path: &Path) -> Result<Self> {
        Self::read(path).map_err(|e| autodidact_core::error::DataError::read(path, e))
    }

    fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let saved: Saved = serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "{}:{}: not a saved tokenizer: {e}",
                path.display(),
                e.line()
            )
        })?;
        let problem = |what: String| anyhow!("{}: {what}", path.display());
        if saved.format != FORMAT {
            return Err(problem(format!(
                "format is '{}', expected '{FORMAT}'",
                saved.format
            )));
        }
        match (saved.kind, saved.vocab, saved.tokenizer) {
            (TokenizerKind::Char, Some(vocab), None) => {
                let chars = char_vocabulary(&vocab).map_err(problem)?;
                Ok(Self::from_chars(chars))
            }
            (kind @ (TokenizerKind::Wordpiece | TokenizerKind::Bpe), None, Some(value)) => {
                check_bpe_merges(&value["model"]).map_err(problem)?;
                let hf: Tokenizer = serde_json::from_value(value)
                    .map_err(|e| problem(format!("invalid tokenizers model: {e}")))?;
                // Padding would make every encoding as long as it says (a billion tokens is
                // one edit away); truncation would cut texts silently. Ours set neither.
                if let Some(padding) = hf.get_padding() {
                    return Err(problem(format!(
                        "expected no padding in the tokenizers model, found {:?}",
                        padding.strategy
                    )));
                }
                if let Some(truncation) = hf.get_truncation() {
                    return Err(problem(format!(
                        "expected no truncation in the tokenizers model, found max_length {}",
                        truncation.max_length
                    )));
                }
                Self::from_hf(kind, hf).map_err(|e| problem(e.to_string()))
            }
            (kind, ..) => Err(problem(format!(
                "a {kind:?} tokenizer needs {}",
                if kind == TokenizerKind::Char {
                    "'vocab' (and no 'tokenizer')"
                } else {
                    "'tokenizer' (and no 'vocab')"
                }
            ))),
        }
    }

    fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, Self::NUM_SPECIAL + i as u32))
            .collect();
        TextTokenizer {
            kind: TokenizerKind::Char,
            inner: Inner::Char { chars, ids },
        }
    }

    /// Wraps a `tokenizers` model after checking that the specials have their fixed ids.
    fn from_hf(kind: TokenizerKind, hf: Tokenizer) -> Result<Self> {
        for (id, name) in SPECIALS.iter().enumerate() {
            let found = hf.token_to_id(name);
            if found != Some(id as u32) {
                bail!("special token {name} has id {found:?}, expected {id}");
            }
        }
        Ok(TextTokenizer {
            kind,
            inner: Inner::Hf(Box::new(hf)),
        })
    }
}

/// Checks that every merge of a BPE model joins two vocabulary tokens into a third. The
/// `tokenizers` crate (0.23) builds the joined token in a buffer as long as the longest
/// vocabulary entry and strips the continuation prefix without looking: a merge that makes a
/// longer token, or whose second part lacks the prefix, panics there instead of being refused.
fn check_bpe_merges(model: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    if model["type"].as_str() != Some("BPE") {
        return Ok(());
    }
    // Anything else malformed here is the tokenizers crate's to report.
    let (Some(vocab), Some(merges)) = (model["vocab"].as_object(), model["merges"].as_array())
    else {
        return Ok(());
    };
    let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("");
    for (i, merge) in merges.iter().enumerate() {
        let (a, b) = match merge {
            Value::String(pair) => match pair.split_once(' ') {
                Some(parts) => parts,
                None => continue,
            },
            Value::Array(pair) => match (pair.first(), pair.get(1)) {
                (Some(Value::String(a)), Some(Value::String(b))) => (a.as_str(), b.as_str()),
                _ => continue,
            },
            _ => continue,
        };
        let Some(rest) = b.strip_prefix(prefix) else {
            return Err(format!(
                "BPE merge {i} ({a:?}, {b:?}): expected its second part to start with {prefix:?}"
            ));
        };
        let joined = format!("{a}{rest}");
        for token in [a, b, joined.as_str()] {
            if !vocab.contains_key(token) {
                return Err(format!(
                    "BPE merge {i} ({a:?}, {b:?}): expected {token:?} in the vocabulary, found \
                     none"
                ));
            }
        }
    }
    Ok(())
}

/// The characters of a saved char vocabulary, checking the specials and one char per token.
fn char_vocabulary(vocab: &[String]) -> std::result::Result<Vec<char>, String> {
    if vocab.len() < SPECIALS.len() || vocab[..SPECIALS.len()] != SPECIALS {
        return Err(format!("vocab must start with {}", SPECIALS.join(", ")));
    }
    let mut seen = BTreeSet::new();
    let mut chars = Vec::with_capacity(vocab.len() - SPECIALS.len());
    for (i, token) in vocab.iter().enumerate().skip(SPECIALS.len()) {
        let mut it = token.chars();
        match (it.next(), it.next()) {
            (Some(c), None) if seen.insert(c) => chars.push(c),
            (Some(_), None) => return Err(format!("vocab entry {i} '{token}' is repeated")),
            _ => return Err(format!("vocab entry {i} '{token}' is not one character")),
        }
    }
    Ok(chars)
}

fn train_hf(
    kind: TokenizerKind,
    texts: &[String],
    vocab_size: usize,
) -> tokenizers::Result<Tokenizer> {
    let specials: Vec<AddedToken> = SPECIALS
        .iter()
        .map(|s| AddedToken::from(*s, true))
        .collect();
    let unk = SPECIALS[TextTokenizer::UNK as usize].to_string();
    let (mut hf, mut trainer): (Tokenizer, TrainerWrapper) = match kind {
        TokenizerKind::Wordpiece => {
            let model = WordPiece::builder()
                .unk_token(unk)
                .continuing_subword_prefix(WORDPIECE_PREFIX.into())
                .build()?;
            let mut hf = Tokenizer::new(model);
            hf.with_decoder(Some(WordPieceDecoder::new(WORDPIECE_PREFIX.into(), false)));
            let trainer = WordPieceTrainer::builder()
                .vocab_size(vocab_size)
                .min_frequency(0)
                .show_progress(false)
                .special_tokens(specials)
                .continuing_subword_prefix(WORDPIECE_PREFIX.into())
                .build();
            (hf, trainer.into())
        }
        TokenizerKind::Bpe => {
            let model = BPE::builder()
                .unk_token(unk)
                .end_of_word_suffix(BPE_SUFFIX.into())
                .build()?;
            let mut hf = Tokenizer::new(model);
            hf.with_decoder(Some(BPEDecoder::new(BPE_SUFFIX.into())));
            let trainer = BpeTrainer::builder()
                .vocab_size(vocab_size)
                .min_frequency(0)
                .show_progress(false)
                .special_tokens(specials)
                .end_of_word_suffix(BPE_SUFFIX.into())
                .build();
            (hf, trainer.into())
        }
        TokenizerKind::Char => unreachable!("char vocabularies are built without tokenizers"),
    };
    hf.with_pre_tokenizer(Some(BertPreTokenizer));
    hf.train(&mut trainer, texts.iter())?;
    Ok(hf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let lines = [
            "The quick brown fox jumps over the lazy dog.",
            "A lazy dog sleeps, and the quick fox runs!",
            "Brown foxes and lazy dogs are friends in the story.",
            "The dog and the fox jump over the brown fence.",
        ];
        (0..20)
            .flat_map(|_| lines.iter().map(|l| l.to_string()))
            .collect()
    }

    const KINDS: [TokenizerKind; 3] = [
        TokenizerKind::Char,
        TokenizerKind::Wordpiece,
        TokenizerKind::Bpe,
    ];

    #[test]
    fn char_round_trip_and_unknown() {
        let text = "Hello, world!\nSecond line: (yes) -- 'quoted'.\n\u{e9}t\u{e9}";
        let tok = TextTokenizer::train(TokenizerKind::Char, &[text.to_string()], 0).unwrap();
        let ids = tok.encode(text);
        assert_eq!(ids.len(), text.chars().count());
        assert!(ids.iter().all(|&id| !TextTokenizer::is_special(id)));
        assert_eq!(tok.decode(&ids), text);
        // Sorted after the specials: '\n' is the smallest char of the text.
        assert_eq!(tok.encode("\n"), [TextTokenizer::NUM_SPECIAL]);
        let distinct: BTreeSet<char> = text.chars().collect();
        assert_eq!(tok.vocab_size(), 5 + distinct.len());
        assert_eq!(tok.encode("H~e"), [ids[0], TextTokenizer::UNK, ids[1]]);
        let with_specials = [TextTokenizer::CLS, ids[0], TextTokenizer::PAD, 9999];
        assert_eq!(tok.decode(&with_specials), "[CLS]H[UNK]");
    }

    #[test]
    fn specials_have_fixed_ids_for_every_kind() {
        let texts = corpus();
        for kind in KINDS {
            let tok = TextTokenizer::train(kind, &texts, 120).unwrap();
            assert_eq!(tok.kind(), kind);
            let names: Vec<String> = (0..5).map(|id| tok.decode(&[id])).collect();
            assert_eq!(
                names[1..],
                ["[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                "{kind:?}"
            );
            assert_eq!(names[0], "", "[PAD] decodes to nothing ({kind:?})");
            if let Inner::Hf(hf) = &tok.inner {
                for (id, name) in SPECIALS.iter().enumerate() {
                    assert_eq!(hf.token_to_id(name), Some(id as u32));
                }
            }
            let ids = tok.encode("the lazy fox");
            assert!(!ids.is_empty() && ids.iter().all(|&id| !TextTokenizer::is_special(id)));
        }
        assert!(TextTokenizer::is_special(4) && !TextTokenizer::is_special(5));
    }

    #[test]
    fn subword_tokenizers_round_trip_words_and_keep_case() {
        let texts = corpus();
        for kind in [TokenizerKind::Wordpiece, TokenizerKind::Bpe] {
            let tok = TextTokenizer::train(kind, &texts, 150).unwrap();
            assert!(
                tok.vocab_size() <= 150 && tok.vocab_size() > 40,
                "{kind:?}: {}",
                tok.vocab_size()
            );
            let plain = "The quick brown fox jumps over the lazy dog";
            let ids = tok.encode(plain);
            assert!(
                ids.len() < plain.split(' ').count() * 3,
                "{kind:?} barely merged: {}",
                ids.len()
            );
            assert_eq!(tok.decode(&ids), plain, "{kind:?}");
            // Punctuation is split off; the words and their order survive.
            let punct = "A lazy dog sleeps, and the quick fox runs!";
            let decoded = tok.decode(&tok.encode(punct));
            let squeeze = |s: &str| s.split_whitespace().collect::<String>();
            assert_eq!(squeeze(&decoded), squeeze(punct), "{kind:?}: {decoded}");
            assert_ne!(tok.encode("The"), tok.encode("the"), "{kind:?} lower-cased");
            // A character never seen is unknown.
            assert!(
                tok.encode("fox \u{263a}").contains(&TextTokenizer::UNK),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn vocabulary_requests_are_honoured_or_refused() {
        let texts = corpus();
        for kind in [TokenizerKind::Wordpiece, TokenizerKind::Bpe] {
            let small = TextTokenizer::train(kind, &texts, 100)
                .unwrap()
                .vocab_size();
            let large = TextTokenizer::train(kind, &texts, 200)
                .unwrap()
                .vocab_size();
            assert!(
                small <= 100 && large <= 200 && small < large,
                "{kind:?}: {small} {large}"
            );
            let err = TextTokenizer::train(kind, &texts, 10)
                .unwrap_err()
                .to_string();
            assert!(err.contains("too small"), "{err}");
        }
        let err = TextTokenizer::train(TokenizerKind::Bpe, &[String::new()], 100).unwrap_err();
        assert!(err.to_string().contains("no text"), "{err}");
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let texts = corpus();
        let sample = "The brown dog jumps, quick as a fox.";
        for kind in KINDS {
            let tok = TextTokenizer::train(kind, &texts, 150).unwrap();
            let path = dir.path().join(format!("{kind:?}.json"));
            tok.save(&path).unwrap();
            let back = TextTokenizer::load(&path).unwrap();
            assert_eq!(back.kind(), kind);
            assert_eq!(back.vocab_size(), tok.vocab_size());
            let ids = tok.encode(sample);
            assert_eq!(back.encode(sample), ids, "{kind:?}");
            assert_eq!(back.decode(&ids), tok.decode(&ids), "{kind:?}");
        }
    }

    /// A saved WordPiece tokenizer with `key` of its `tokenizers` model set to `value`.
    fn saved_with(dir: &Path, key: &str, value: serde_json::Value) -> std::path::PathBuf {
        let tok = TextTokenizer::train(TokenizerKind::Wordpiece, &corpus(), 120).unwrap();
        let path = dir.join(format!("{key}.json"));
        tok.save(&path).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json["tokenizer"][key] = value;
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn saved_padding_to_a_billion_tokens_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let padding = serde_json::json!({
            "strategy": {"Fixed": 1_000_000_000},
            "direction": "Right",
            "pad_to_multiple_of": null,
            "pad_id": 0,
            "pad_type_id": 0,
            "pad_token": "[PAD]"
        });
        let path = saved_with(dir.path(), "padding", padding);
        let err = TextTokenizer::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: expected no padding in the tokenizers model, found Fixed(1000000000)",
                path.display()
            )
        );
    }

    /// A saved BPE tokenizer whose `tokenizers` model is changed by `edit`.
    fn saved_bpe_with(dir: &Path, edit: impl Fn(&mut serde_json::Value)) -> std::path::PathBuf {
        let tok = TextTokenizer::train(TokenizerKind::Bpe, &corpus(), 120).unwrap();
        let path = dir.join("bpe.json");
        tok.save(&path).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut json["tokenizer"]["model"]);
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn bpe_merge_making_a_token_outside_the_vocabulary_is_refused() {
        // Found by the fuzz test: a merge that makes a token longer than every vocabulary entry
        // made the tokenizers crate index past its buffer.
        let dir = tempfile::tempdir().unwrap();
        let longest = std::cell::RefCell::new(String::new());
        let path = saved_bpe_with(dir.path(), |model| {
            let vocab = model["vocab"].as_object().unwrap();
            let token = vocab.keys().max_by_key(|k| k.len()).unwrap().clone();
            model["merges"][0] = serde_json::json!([token, token]);
            *longest.borrow_mut() = token;
        });
        let token = longest.into_inner();
        let err = TextTokenizer::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: BPE merge 0 ({token:?}, {token:?}): expected {:?} in the vocabulary, found \
                 none",
                path.display(),
                format!("{token}{token}")
            )
        );
    }

    #[test]
    fn bpe_merge_without_the_continuation_prefix_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = saved_bpe_with(dir.path(), |model| {
            model["continuing_subword_prefix"] = serde_json::json!("####");
            model["merges"][0] = serde_json::json!(["a", "b"]);
        });
        let err = TextTokenizer::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: BPE merge 0 (\"a\", \"b\"): expected its second part to start with \"####\"",
                path.display()
            )
        );
    }

    #[test]
    fn saved_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let truncation = serde_json::json!({
            "direction": "Right",
            "max_length": 3,
            "strategy": "LongestFirst",
            "stride": 0
        });
        let path = saved_with(dir.path(), "truncation", truncation);
        let err = TextTokenizer::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: expected no truncation in the tokenizers model, found max_length 3",
                path.display()
            )
        );
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_corpus_reaches_the_requested_size() {
        let path = crate::shared_data::shared_data().join("text/tinyshakespeare.txt");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let chars = TextTokenizer::train(TokenizerKind::Char, &lines, 0).unwrap();
        assert_eq!(
            chars.vocab_size(),
            5 + 64,
            "64 distinct chars besides the newline"
        );
        for kind in [TokenizerKind::Wordpiece, TokenizerKind::Bpe] {
            let tok = TextTokenizer::train(kind, &lines, 1000).unwrap();
            assert!(
                (950..=1000).contains(&tok.vocab_size()),
                "{kind:?}: {}",
                tok.vocab_size()
            );
            let line = &lines[0];
            let squeeze = |s: &str| s.split_whitespace().collect::<String>();
            assert_eq!(
                squeeze(&tok.decode(&tok.encode(line))),
                squeeze(line),
                "{kind:?}"
            );
            let tokens: usize = lines[..500].iter().map(|l| tok.encode(l).len()).sum();
            let chars: usize = lines[..500].iter().map(|l| l.len()).sum();
            assert!(
                tokens * 2 < chars,
                "{kind:?}: {tokens} tokens for {chars} chars"
            );
        }
    }

    #[test]
    fn bad_saved_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "{\"format\":\"autodidact-tokenizer\",\n\"kind\":\"char\",\"vocab\":[\"[PAD]\"",
                "bad.json:2: not a saved tokenizer",
            ),
            (
                "{\"format\":\"other\",\"kind\":\"char\",\"vocab\":[]}",
                "format is 'other'",
            ),
            (
                "{\"format\":\"autodidact-tokenizer\",\"kind\":\"char\",\"vocab\":[\"[PAD]\",\"[UNK]\",\"[CLS]\",\"[SEP]\",\"[MASK]\",\"ab\"]}",
                "entry 5 'ab' is not one character",
            ),
            (
                "{\"format\":\"autodidact-tokenizer\",\"kind\":\"char\",\"vocab\":[\"[UNK]\",\"[PAD]\",\"[CLS]\",\"[SEP]\",\"[MASK]\"]}",
                "vocab must start with [PAD]",
            ),
            (
                "{\"format\":\"autodidact-tokenizer\",\"kind\":\"bpe\",\"vocab\":[]}",
                "a Bpe tokenizer needs 'tokenizer'",
            ),
            (
                "{\"format\":\"autodidact-tokenizer\",\"kind\":\"wordpiece\",\"tokenizer\":{\"model\":1}}",
                "invalid tokenizers model",
            ),
        ];
        for (content, expected) in cases {
            let path = dir.path().join("bad.json");
            std::fs::write(&path, content).unwrap();
            let err = TextTokenizer::load(&path).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains("bad.json"),
                "{err} should contain {expected}"
            );
        }
        let missing = TextTokenizer::load(&dir.path().join("none.json")).unwrap_err();
        assert!(missing.to_string().contains("none.json: cannot read"));
    }
}

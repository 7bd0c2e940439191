//! Prompt-based fine-tuning (PET, Schick & Schütze 2021; LM-BFF, Gao et al. 2021): the text is
//! set in a template with one `[MASK]`, and the class is the label word the masked-language-model
//! head scores highest there ("{text} it was [MASK] ." with "terrible"/"great"). The classifier
//! is the pre-trained head itself, restricted to the label words, so a few labels adjust what
//! pre-training learnt instead of training a new layer from nothing.

use anyhow::{Result, bail};

use super::tokenizer::TextTokenizer;

/// Where the text goes in a template.
pub const TEXT_SLOT: &str = "{text}";
/// Where the label word goes.
pub const MASK_SLOT: &str = "[MASK]";

/// A template and one label word per class, tokenised.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub template: String,
    pub label_words: Vec<String>,
    /// Tokens before the text, between the text and `[MASK]`, and after `[MASK]`.
    before: Vec<u32>,
    between: Vec<u32>,
    after: Vec<u32>,
    /// The token of each class's label word.
    pub label_ids: Vec<u32>,
}

impl Prompt {
    /// Tokenises `template` (holding `{text}` then `[MASK]`, once each) and `label_words` (one
    /// token each, in class order).
    pub fn new(template: &str, label_words: &[String], tokenizer: &TextTokenizer) -> Result<Self> {
        let (Some(text_at), Some(mask_at)) = (template.find(TEXT_SLOT), template.find(MASK_SLOT))
        else {
            bail!("prompt template {template:?}: needs {TEXT_SLOT} and {MASK_SLOT}");
        };
        if template.matches(TEXT_SLOT).count() != 1
            || template.matches(MASK_SLOT).count() != 1
            || mask_at < text_at
        {
            bail!(
                "prompt template {template:?}: needs {TEXT_SLOT} once, then {MASK_SLOT} once after it"
            );
        }
        if label_words.len() < 2 {
            bail!("--label-words: give one word per class (at least two)");
        }
        let label_ids = label_words
            .iter()
            .map(|w| match tokenizer.encode(w.trim()).as_slice() {
                [id] if !TextTokenizer::is_special(*id) => Ok(*id),
                ids => bail!(
                    "label word {w:?} is {} tokens for this run's tokenizer; choose words that are one token",
                    ids.len()
                ),
            })
            .collect::<Result<Vec<u32>>>()?;
        let encode = |s: &str| {
            if s.trim().is_empty() {
                Vec::new()
            } else {
                tokenizer.encode(s)
            }
        };
        Ok(Self {
            template: template.to_string(),
            label_words: label_words.to_vec(),
            before: encode(&template[..text_at]),
            between: encode(&template[text_at + TEXT_SLOT.len()..mask_at]),
            after: encode(&template[mask_at + MASK_SLOT.len()..]),
            label_ids,
        })
    }

    /// `[CLS]`, the template around `text` (the text cut so that the whole fits `max_len`) and
    /// the position of `[MASK]`.
    pub fn sequence(
        &self,
        tokenizer: &TextTokenizer,
        text: &str,
        max_len: usize,
    ) -> (Vec<u32>, usize) {
        let fixed = 1 + self.before.len() + self.between.len() + 1 + self.after.len();
        let mut text_ids = tokenizer.encode(text);
        text_ids.truncate(max_len.saturating_sub(fixed));
        let mut ids = vec![TextTokenizer::CLS];
        ids.extend(&self.before);
        ids.extend(text_ids);
        ids.extend(&self.between);
        let mask = ids.len();
        ids.push(TextTokenizer::MASK);
        ids.extend(&self.after);
        ids.truncate(max_len);
        (ids, mask.min(max_len.saturating_sub(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TokenizerKind;

    fn tokenizer() -> TextTokenizer {
        let texts: Vec<String> = ["it was great .", "it was terrible .", "a long movie"]
            .iter()
            .map(|s| s.repeat(3))
            .collect();
        TextTokenizer::train(TokenizerKind::Char, &texts, 0).expect("tokenizer")
    }

    #[test]
    fn the_mask_follows_the_text_and_long_texts_are_cut_not_the_template() {
        let tok = tokenizer();
        let words = vec!["t".to_string(), "g".to_string()];
        let prompt = Prompt::new("{text} was [MASK].", &words, &tok).expect("prompt");
        let (ids, mask) = prompt.sequence(&tok, "a movie", 64);
        assert_eq!(ids[0], TextTokenizer::CLS);
        assert_eq!(ids[mask], TextTokenizer::MASK);
        assert_eq!(tok.decode(&ids[1..mask]).replace(' ', ""), "amoviewas");
        assert_eq!(ids.len(), mask + 2, "one token after the mask");
        let (short, mask) = prompt.sequence(&tok, &"a long movie ".repeat(20), 12);
        assert_eq!(short.len(), 12);
        assert_eq!(short[mask], TextTokenizer::MASK);
        assert_eq!(mask, 10);
        assert_eq!(prompt.label_ids, tok.encode("tg"));
    }

    #[test]
    fn bad_templates_and_label_words_are_refused() {
        let tok = tokenizer();
        let words = vec!["t".to_string(), "g".to_string()];
        assert!(Prompt::new("{text} was", &words, &tok).is_err());
        assert!(Prompt::new("[MASK] {text}", &words, &tok).is_err());
        let long = vec!["great".to_string(), "g".to_string()];
        let err = Prompt::new("{text} [MASK]", &long, &tok).unwrap_err();
        assert!(err.to_string().contains("\"great\""), "{err}");
        assert!(Prompt::new("{text} [MASK]", &words[..1], &tok).is_err());
    }
}

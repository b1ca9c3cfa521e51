//! The caps on the text a model carries: one home for the limits every way in (the CLI, the
//! storage layer, anything later) checks. They are what a public model hub would allow: enough
//! for any real name, description or tag list, small enough that a catalog of shared models,
//! its indexes and the pages built from it stay bounded in memory and work.

/// Most characters in a model's name (after trimming).
pub const MAX_MODEL_NAME_CHARS: usize = 128;
/// Most characters in a model's description.
pub const MAX_MODEL_DESCRIPTION_CHARS: usize = 4096;
/// Most characters in a model's architecture or license.
pub const MAX_MODEL_LABEL_CHARS: usize = 64;
/// Most tags on one model.
pub const MAX_MODEL_TAGS: usize = 32;
/// Most characters in one tag.
pub const MAX_MODEL_TAG_CHARS: usize = 64;

/// The text of a model, to check against the caps.
#[derive(Debug, Clone, Copy)]
pub struct ModelText<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub architecture: Option<&'a str>,
    pub license: Option<&'a str>,
    pub tags: &'a [String],
}

/// Which cap a model's text breaks. Lengths are counted in characters (Unicode scalar values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelTextError {
    #[error("the model name is empty")]
    EmptyName,
    #[error("the model {field} has {chars} characters; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        chars: usize,
        max: usize,
    },
    #[error("the model has {count} tags; at most {max} are allowed")]
    TooManyTags { count: usize, max: usize },
}

impl ModelTextError {
    /// A fixed sentence naming the broken rule (for errors that carry a `&'static str`).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::EmptyName => "the model name is empty",
            Self::TooLong { field: "name", .. } => "the model name is too long",
            Self::TooLong {
                field: "description",
                ..
            } => "the model description is too long",
            Self::TooLong { field: "tag", .. } => "a model tag is too long",
            Self::TooLong { .. } => "a model architecture or license is too long",
            Self::TooManyTags { .. } => "the model has too many tags",
        }
    }
}

impl ModelText<'_> {
    /// Checks every cap; the first broken one answers.
    pub fn check(&self) -> Result<(), ModelTextError> {
        if self.name.trim().is_empty() {
            return Err(ModelTextError::EmptyName);
        }
        let within = |field: &'static str, text: &str, max: usize| {
            let chars = text.chars().count();
            if chars > max {
                Err(ModelTextError::TooLong { field, chars, max })
            } else {
                Ok(())
            }
        };
        within("name", self.name, MAX_MODEL_NAME_CHARS)?;
        within("description", self.description, MAX_MODEL_DESCRIPTION_CHARS)?;
        if let Some(architecture) = self.architecture {
            within("architecture", architecture, MAX_MODEL_LABEL_CHARS)?;
        }
        if let Some(license) = self.license {
            within("license", license, MAX_MODEL_LABEL_CHARS)?;
        }
        if self.tags.len() > MAX_MODEL_TAGS {
            return Err(ModelTextError::TooManyTags {
                count: self.tags.len(),
                max: MAX_MODEL_TAGS,
            });
        }
        for tag in self.tags {
            within("tag", tag, MAX_MODEL_TAG_CHARS)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(name: &'a str, description: &'a str, tags: &'a [String]) -> ModelText<'a> {
        ModelText {
            name,
            description,
            architecture: Some("llama"),
            license: None,
            tags,
        }
    }

    #[test]
    fn text_at_the_caps_passes_and_one_more_character_fails() {
        let name = "n".repeat(MAX_MODEL_NAME_CHARS);
        // Characters, not bytes: a two-byte letter counts once.
        let description = "é".repeat(MAX_MODEL_DESCRIPTION_CHARS);
        let tags = vec!["t".repeat(MAX_MODEL_TAG_CHARS); MAX_MODEL_TAGS];
        assert_eq!(text(&name, &description, &tags).check(), Ok(()));

        let long_name = format!("{name}n");
        assert_eq!(
            text(&long_name, "", &[]).check(),
            Err(ModelTextError::TooLong {
                field: "name",
                chars: MAX_MODEL_NAME_CHARS + 1,
                max: MAX_MODEL_NAME_CHARS
            })
        );
        let long_description = format!("{description}é");
        let err = text("m", &long_description, &[]).check().unwrap_err();
        assert_eq!(err.rule(), "the model description is too long");
        assert_eq!(
            err.to_string(),
            "the model description has 4097 characters; at most 4096 are allowed"
        );
        let many = vec!["t".to_owned(); MAX_MODEL_TAGS + 1];
        assert_eq!(
            text("m", "", &many).check().unwrap_err().rule(),
            "the model has too many tags"
        );
        let long_tag = vec!["t".repeat(MAX_MODEL_TAG_CHARS + 1)];
        assert_eq!(
            text("m", "", &long_tag).check().unwrap_err().rule(),
            "a model tag is too long"
        );
        let long_license = "l".repeat(MAX_MODEL_LABEL_CHARS + 1);
        let with_license = ModelText {
            license: Some(&long_license),
            ..text("m", "", &[])
        };
        assert_eq!(
            with_license.check().unwrap_err().rule(),
            "a model architecture or license is too long"
        );
        assert_eq!(text("  ", "", &[]).check(), Err(ModelTextError::EmptyName));
    }
}

//! The one type for a person with an account, whatever told us about them
//! (a token, a stored row): wire shapes are derived from it.

use soporte_protocol::{AuthorKind, Participant, Person, Role, Timestamp, UserId};

/// Someone with an account, as the last token we saw (or the store)
/// describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub avatar: Option<String>,
    /// Where the user can be reached when nobody is watching (the token's
    /// `email` claim, or provisioning).
    pub email: Option<String>,
}

impl User {
    /// As a message's author or an event's `usuario`.
    pub fn person(&self) -> Person {
        Person {
            id: Some(self.id),
            name: self.name.clone(),
            kind: AuthorKind::from(self.role),
            avatar: self.avatar.clone(),
        }
    }

    /// As a participant of a conversation.
    pub fn participant(&self, online: bool, last_seen: Option<Timestamp>) -> Participant {
        Participant {
            id: self.id,
            name: self.name.clone(),
            role: self.role,
            avatar: self.avatar.clone(),
            online,
            last_seen,
        }
    }

    /// The user as stored after saving `self` over `stored`: a token that
    /// leaves out the avatar or email keeps the ones the user has.
    pub fn merged_into(&self, stored: &User) -> User {
        User {
            avatar: self.avatar.clone().or_else(|| stored.avatar.clone()),
            email: self.email.clone().or_else(|| stored.email.clone()),
            ..self.clone()
        }
    }

    /// Whether saving `self` would change what is stored (`None`: nothing
    /// is): a caller that already holds the stored row skips a write that
    /// would leave it as it is.
    pub fn changes(&self, stored: Option<&User>) -> bool {
        stored.is_none_or(|stored| self.merged_into(stored) != *stored)
    }

    /// The user a person names, when it names one (not the system).
    pub fn from_person(person: &Person) -> Option<User> {
        let role = match person.kind {
            AuthorKind::Customer => Role::Customer,
            AuthorKind::Agent => Role::Agent,
            AuthorKind::Supervisor => Role::Supervisor,
            AuthorKind::System => return None,
        };
        Some(User {
            id: person.id?,
            name: person.name.clone(),
            role,
            avatar: person.avatar.clone(),
            email: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_and_the_person_it_shows_as_name_the_same_one() {
        let ana = User {
            id: 7,
            name: "Ana".into(),
            role: Role::Supervisor,
            avatar: Some("https://x/a.png".into()),
            email: None,
        };
        assert_eq!(User::from_person(&ana.person()), Some(ana.clone()));
        let seen = ana.participant(true, None);
        assert_eq!(
            (seen.id, seen.role, seen.online),
            (7, Role::Supervisor, true)
        );
        assert_eq!(User::from_person(&Person::system()), None);
    }

    #[test]
    fn saving_changes_only_what_the_token_says_differently() {
        let stored = User {
            id: 7,
            name: "Ana".into(),
            role: Role::Agent,
            avatar: Some("https://x/a.png".into()),
            email: Some("ana@x.es".into()),
        };
        let token = User {
            avatar: None,
            email: None,
            ..stored.clone()
        };
        // A token without avatar or email keeps the stored ones.
        assert!(!token.changes(Some(&stored)));
        assert!(!stored.changes(Some(&stored)));
        assert!(token.changes(None));
        let renamed = User {
            name: "Ana María".into(),
            ..token.clone()
        };
        assert!(renamed.changes(Some(&stored)));
        let promoted = User {
            role: Role::Supervisor,
            ..token.clone()
        };
        assert!(promoted.changes(Some(&stored)));
        let new_email = User {
            email: Some("ana@y.es".into()),
            ..token
        };
        assert!(new_email.changes(Some(&stored)));
    }
}

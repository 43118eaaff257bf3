//! `m20261204_000006_lab_emails` on a database that already ran the earlier migrations
//! (as a deployed one has), on SQLite: the seeded staff get the lab's addresses, and a
//! database where someone already registered one of them still migrates.

use db::{FIRST_SEED_USERS, LAB_EMAIL_CHANGES, Migrator, MigratorTrait, SEED_USERS};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// The migrations before the lab's e-mails.
const BEFORE_LAB_EMAILS: u32 = 5;

async fn database_before_lab_emails() -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:").await.expect("SQLite");
    Migrator::up(&db, Some(BEFORE_LAB_EMAILS))
        .await
        .expect("first migrations");
    assert_eq!(emails(&db).await, addresses(&FIRST_SEED_USERS));
    db
}

async fn emails(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT email FROM users ORDER BY id",
        ))
        .await
        .expect("users");
    rows.iter()
        .map(|row| row.try_get::<String>("", "email").expect("email"))
        .collect()
}

fn addresses(users: &[(&str, &str, i32)]) -> Vec<String> {
    users
        .iter()
        .map(|(_, email, _)| (*email).to_owned())
        .collect()
}

#[tokio::test]
async fn the_seeded_staff_get_the_labs_addresses() {
    let db = database_before_lab_emails().await;
    Migrator::up(&db, None).await.expect("lab e-mails");
    assert_eq!(emails(&db).await, addresses(&SEED_USERS));
    assert!(
        emails(&db).await[3..]
            .iter()
            .all(|email| email.ends_with("@magasinducoin.ca"))
    );
    Migrator::down(&db, Some(1)).await.expect("down");
    assert_eq!(emails(&db).await, addresses(&FIRST_SEED_USERS));
}

#[tokio::test]
async fn an_address_someone_registered_stays_theirs() {
    let db = database_before_lab_emails().await;
    let (_, jane_lab) = LAB_EMAIL_CHANGES[0];
    db.execute_unprepared(&format!(
        "INSERT INTO users (name, email, user_type_id) VALUES ('Another Jane', '{jane_lab}', 1)"
    ))
    .await
    .expect("a user with the lab's address");
    Migrator::up(&db, None)
        .await
        .expect("migrates all the same");
    let after = emails(&db).await;
    assert_eq!(
        after[3], "jdoe@example.com",
        "Jane Doe keeps her seeded address"
    );
    assert_eq!(after[4], "dboss@magasinducoin.ca");
    assert_eq!(after[5], jane_lab);
}

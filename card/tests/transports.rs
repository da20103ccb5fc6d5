//! The async purse client over every transport the crate has natively: the virtual
//! reader (two purses in one "page"), a CCID reader emulator and a HID token emulator;
//! and a virtual card persisted to a JSON file.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(not(target_arch = "wasm32"))] // Native: proptest, tempfile, threads.

mod common;

use common::*;
use ecash_card::apdu::Sw;
use ecash_card::cert::Mode;
use ecash_card::client::{self, PurseClient};
use ecash_card::host::{self, cmd, exchange};
use ecash_card::log::LogKind;
use ecash_card::transfer::Purpose;
use ecash_card::transport::ccid::{CcidReader, CcidReaderEmulator};
use ecash_card::transport::hid::{HidToken, HidTokenEmulator};
use ecash_card::transport::virtual_reader::VirtualReader;
use ecash_card::transport::{CardHandle, CardTransport, TransportError};
use ecash_card::virtual_card::FileStore;
use ecash_card::{Card, Error, PurseState, VirtualCard};
use ecash_shared::Amount;

fn eur(minor: u64) -> Amount {
    Amount::from_minor(minor)
}

#[test]
fn two_virtual_purses_in_one_reader_pay_each_other() {
    let mut ledger = ledger();
    let (mut alice, alice_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (shop, _) = issue(&mut ledger, 2, Mode::Terminal);
    fund(&mut ledger, &mut alice, &alice_cert, 5_000);
    let reader = VirtualReader::new();
    reader.insert("Alice's purse", alice);
    reader.insert("Shop terminal", shop);
    block_on(async {
        let mut r = reader.clone();
        let names: Vec<_> = r
            .list_readers()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["Alice's purse", "Shop terminal"]);
        let mut a = PurseClient::connect(reader.clone(), "Alice's purse")
            .await
            .unwrap();
        let mut s = PurseClient::connect(reader.clone(), "Shop terminal")
            .await
            .unwrap();
        assert_eq!(a.cert().unwrap().card_id, alice_cert.card_id);
        // Paying needs the PIN.
        let e = client::transfer(&mut a, &mut s, eur(1_200), Purpose::Payment, 20_000).await;
        assert_eq!(e.unwrap_err(), Error::Status(Sw::SECURITY_NOT_SATISFIED));
        assert_eq!(
            a.verify_pin(&ecash_card::Pin::new("0000").unwrap()).await,
            Err(Error::Status(Sw::retries_left(2)))
        );
        a.verify_pin(&pin()).await.unwrap();
        let terms = client::transfer(&mut a, &mut s, eur(1_200), Purpose::Payment, 20_000)
            .await
            .unwrap();
        assert_eq!(terms.amount, eur(1_200));
        assert_eq!(a.balance().await.unwrap().0, eur(3_800));
        assert_eq!(s.balance().await.unwrap().0, eur(1_200));
        let log = s.log().await.unwrap();
        assert_eq!((log[0].kind, log[0].amount), (LogKind::Credit, eur(1_200)));
        assert!(a.exceptions().await.unwrap().is_empty());
        // The takings are settled at the issuer (the credit log), then refundable.
        let credits = s.credits().await.unwrap();
        assert_eq!(credits.len(), 1);
        let auth = ledger.settle(credits[0].terms().payee, &credits).unwrap();
        s.clear_credits(&auth).await.unwrap();
        assert_eq!(s.status().await.unwrap().unsettled, eur(0));
        // Refund out of the terminal: terminal PIN.
        s.verify_pin(&pin()).await.unwrap();
        client::transfer(&mut s, &mut a, eur(200), Purpose::Refund, 20_000)
            .await
            .unwrap();
        assert_eq!(a.balance().await.unwrap().0, eur(4_000));
        let handle = a.handle();
        let mut r = a.disconnect().await.unwrap();
        assert_eq!(
            r.transmit(handle, &[0]).await,
            Err(TransportError::NoSuchHandle)
        );
        assert!(matches!(
            r.connect("nobody").await,
            Err(TransportError::NoSuchReader(_))
        ));
        assert_eq!(
            r.disconnect(CardHandle(999)).await,
            Err(TransportError::NoSuchHandle)
        );
    });
    // The page persists the purses from the reader.
    let json = reader.state_json("Alice's purse").unwrap();
    let restored = VirtualCard::from_json(&json).unwrap();
    assert_eq!(restored.state().balance(), Some(eur(4_000)));
    let card = reader.remove("Alice's purse").unwrap();
    assert_eq!(card.state().balance(), Some(eur(4_000)));
    block_on(async {
        let mut r = reader.clone();
        let list = r.list_readers().await.unwrap();
        assert!(!list[0].card_present);
        assert_eq!(
            r.connect("Alice's purse").await,
            Err(TransportError::NoCard)
        );
    });
}

#[test]
fn purse_on_a_ccid_reader_pays_purse_on_a_hid_token() {
    let mut ledger = ledger();
    let (mut a, a_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (b, b_cert) = issue(&mut ledger, 2, Mode::Personal);
    fund(&mut ledger, &mut a, &a_cert, 900);
    let mut emu = CcidReaderEmulator::new(Some(a), 64, 16);
    emu.time_extensions = 1;
    let ccid = CcidReader::new(emu, "CCID emulator", 64, 16);
    let hid = HidToken::new(HidTokenEmulator::new(b, 0x0101), "HID emulator", 0x0101);
    block_on(async {
        let mut payer = PurseClient::connect(ccid, "CCID emulator").await.unwrap();
        let mut payee = PurseClient::connect(hid, "HID emulator").await.unwrap();
        assert_eq!(payee.cert().unwrap(), &b_cert);
        payer.verify_pin(&pin()).await.unwrap();
        client::transfer(&mut payer, &mut payee, eur(650), Purpose::Payment, 1)
            .await
            .unwrap();
        assert_eq!(payer.balance().await.unwrap().0, eur(250));
        assert_eq!(payee.balance().await.unwrap().0, eur(650));
        assert_eq!(payer.abort().await.unwrap(), 0);
    });
}

#[test]
fn file_persistence_survives_restarts_and_failed_writes_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purses").join("alice.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut ledger = ledger();
    let mut card = FileStore::new(&path)
        .open_or_create(|| Ok(PurseState::manufacture_with_seed(&[1; 32])))
        .unwrap();
    let cert = host::issue_card(
        &mut card,
        &mut ledger,
        card_id(1),
        profile(Mode::Personal),
        &pin(),
        &puk(),
    )
    .unwrap();
    fund(&mut ledger, &mut card, &cert, 777);
    drop(card);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state holds the card key");
    }
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["alice.json"], "no temp files left behind");

    // Restart: same purse, same balance; a wrong PIN try persists too.
    let mut card = FileStore::new(&path)
        .open_or_create(|| panic!("the file exists"))
        .unwrap();
    assert_eq!(host::select(&mut card).unwrap(), cert);
    assert_eq!(host::status(&mut card).unwrap().balance, eur(777));
    let wrong = ecash_card::Pin::new("0000").unwrap();
    assert!(exchange(&mut card, &cmd::verify(&wrong)).is_err());
    drop(card);
    let mut card = FileStore::new(&path).open_or_create(|| panic!()).unwrap();
    exchange(&mut card, &cmd::select()).unwrap();
    assert_eq!(host::status(&mut card).unwrap().pin_tries, 2);

    // The directory disappears: the write fails, the card answers 6581 and the load
    // did not happen (the same authorization works once the disk is back).
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    let auth = ledger
        .authorize_load(cert.card_id, eur(5), ecash_card::load::LoadKind::Bank)
        .unwrap();
    assert_eq!(
        exchange(&mut card, &cmd::load(&auth)),
        Err(Error::Status(Sw::MEMORY_FAILURE))
    );
    assert_eq!(card.state().balance(), Some(eur(777)));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // The rollback also dropped the session, as a power cut would.
    assert_eq!(
        exchange(&mut card, &cmd::get_status()),
        Err(Error::Status(Sw::CONDITIONS_NOT_SATISFIED))
    );
    exchange(&mut card, &cmd::select()).unwrap();
    host::load(&mut card, &auth).unwrap();
    card.power_off();
    let store = FileStore::new(&path);
    assert_eq!(store.load().unwrap().unwrap().balance(), Some(eur(782)));
    assert!(
        FileStore::new(dir.path().join("none.json"))
            .load()
            .unwrap()
            .is_none()
    );
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    assert!(FileStore::new(dir.path().join("bad.json")).load().is_err());
}

#[test]
fn a_state_change_is_answered_only_after_the_persister_stored_it() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    let mut ledger = ledger();
    let (mut a, a_cert) = issue(&mut ledger, 1, Mode::Personal);
    let (b, _) = issue(&mut ledger, 2, Mode::Personal);
    fund(&mut ledger, &mut a, &a_cert, 1_000);
    let reader = VirtualReader::new();
    reader.insert("A", a);
    reader.insert("B", b);
    let stored: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
    let fail = Rc::new(Cell::new(false));
    {
        let (stored, fail) = (stored.clone(), fail.clone());
        reader.set_persister(Rc::new(move |name, json| {
            let (stored, fail) = (stored.clone(), fail.clone());
            Box::pin(async move {
                if fail.get() {
                    return Err(Error::Storage("disk full".into()));
                }
                stored.borrow_mut().push((name, json.to_string()));
                Ok(())
            })
        }));
    }
    block_on(async {
        let mut a = PurseClient::connect(reader.clone(), "A").await.unwrap();
        let mut b = PurseClient::connect(reader.clone(), "B").await.unwrap();
        a.verify_pin(&pin()).await.unwrap();
        assert!(
            stored.borrow().is_empty(),
            "session-only changes are not stored"
        );
        client::transfer(&mut a, &mut b, eur(300), Purpose::Payment, 1)
            .await
            .unwrap();
        // START FROM, REQ, ACK on A; START TO, VAL on B.
        let names: Vec<String> = stored.borrow().iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, ["A", "B", "A", "B", "A"]);
        let last_a = stored.borrow()[4].1.clone();
        assert_eq!(
            VirtualCard::from_json(&last_a).unwrap().state().balance(),
            Some(eur(700))
        );
        // The write fails: 6581, the card is back at its old state, session gone.
        fail.set(true);
        a.verify_pin(&pin()).await.unwrap();
        let e = client::transfer(&mut a, &mut b, eur(100), Purpose::Payment, 1).await;
        assert_eq!(e.unwrap_err(), Error::Status(Sw::MEMORY_FAILURE));
        fail.set(false);
        assert_eq!(
            a.status().await.unwrap_err(),
            Error::Status(Sw::CONDITIONS_NOT_SATISFIED)
        );
        a.select().await.unwrap();
        let st = a.status().await.unwrap();
        assert_eq!((st.balance, st.pending), (eur(700), 0));
    });
}

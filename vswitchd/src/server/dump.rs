//! Streaming dumps in pages: DumpFlows, DumpMegaflows, DumpConntrack.
//!
//! A dump used to render every entry before sending the first, so a client that opened a
//! dump of 750k rules and never read it pinned a full rendered copy (about 150 MB) for as
//! long as it stayed connected, and twenty such clients took gigabytes. Now a dump takes a
//! snapshot of *handles* (the rules' and megaflows' `Arc`s, or just a shard cursor for
//! conntrack) and a producer renders one page of [`PAGE`] entries at a time, on the blocking
//! pool, only when the reader has taken the previous one: gRPC flow control stops polling the
//! stream when the client stops reading, the one-page channel fills, and the producer waits.
//!
//! Bounds (DESIGN §9): at most [`MAX_CONCURRENT_DUMPS`] dumps stream at once (a further dump
//! waits up to [`PERMIT_WAIT`] for one to finish, then gets `ResourceExhausted`), and a reader
//! that takes no page for [`STALL_TIMEOUT`] is cut off with `DeadlineExceeded`: its snapshot
//! and its slot are released at once, and the stream ends with that error after what was
//! already buffered. So the memory a dump can hold is one page plus its handles, and the
//! handles of all dumps together are bounded by the slots.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::Stream;
use tonic::Status;

use super::flow::ServerStream;

/// Entries rendered per page.
pub const PAGE: usize = 256;
/// Dumps that may stream at the same time.
pub const MAX_CONCURRENT_DUMPS: usize = 8;
/// How long a new dump waits for a slot before `ResourceExhausted`.
pub const PERMIT_WAIT: Duration = Duration::from_secs(5);
/// How long a reader may leave a page untaken before its dump is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits (up to [`PERMIT_WAIT`]) for a dump slot.
pub async fn permit(slots: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, Status> {
    permit_within(slots, PERMIT_WAIT).await
}

async fn permit_within(
    slots: &Arc<Semaphore>,
    wait: Duration,
) -> Result<OwnedSemaphorePermit, Status> {
    match tokio::time::timeout(wait, Arc::clone(slots).acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        _ => Err(Status::resource_exhausted(format!(
            "{MAX_CONCURRENT_DUMPS} dumps are already streaming; try again when one finishes"
        ))),
    }
}

/// A source of pages: returns the next page, or `None` at the end. Runs on the blocking pool
/// (it may take a dataplane lock for the length of one page).
pub trait Pager: Send + 'static {
    type Item: Send + 'static;
    fn next_page(&mut self) -> Option<Vec<Self::Item>>;
}

/// Streams `pager`'s pages, holding `permit` until the dump ends or is abandoned.
pub fn stream<P: Pager>(
    permit: OwnedSemaphorePermit,
    pager: P,
    stall: Duration,
) -> ServerStream<P::Item> {
    let (tx, rx) = mpsc::channel::<Vec<P::Item>>(1);
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stalled);
    tokio::spawn(async move {
        let _permit = permit;
        let mut pager = pager;
        loop {
            let slot = match tokio::time::timeout(stall, tx.reserve()).await {
                Ok(Ok(slot)) => slot,
                // The client went away.
                Ok(Err(_)) => return,
                Err(_) => {
                    flag.store(true, Ordering::Release);
                    tracing::info!(
                        timeout_s = stall.as_secs(),
                        "a dump reader stopped reading; abandoning its dump"
                    );
                    return;
                }
            };
            let produced = tokio::task::spawn_blocking(move || {
                let page = pager.next_page();
                (pager, page)
            })
            .await;
            match produced {
                Ok((p, Some(page))) => {
                    pager = p;
                    slot.send(page);
                }
                Ok((_, None)) | Err(_) => return,
            }
        }
    });
    Box::pin(Pages {
        rx,
        page: Vec::new().into_iter(),
        stalled,
        done: false,
    })
}

/// The receiving end: entries of the pages in order, then a `DeadlineExceeded` if the
/// producer gave up on a stalled reader (so a cut-off dump never looks complete).
struct Pages<T> {
    rx: mpsc::Receiver<Vec<T>>,
    page: std::vec::IntoIter<T>,
    stalled: Arc<AtomicBool>,
    done: bool,
}

// Nothing in `Pages` is pinned structurally: it is only ever moved as a whole.
impl<T> Unpin for Pages<T> {}

impl<T> Stream for Pages<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(x) = this.page.next() {
                return Poll::Ready(Some(Ok(x)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(page)) => this.page = page.into_iter(),
                Poll::Ready(None) => {
                    this.done = true;
                    if this.stalled.load(Ordering::Acquire) {
                        return Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                            "the dump was abandoned: nothing was read for {} s",
                            STALL_TIMEOUT.as_secs()
                        )))));
                    }
                }
            }
        }
    }
}

/// Pages over a list of handles, rendering each with `render` when its page is due.
pub struct Handles<H, T, F> {
    items: std::vec::IntoIter<H>,
    render: F,
    _out: std::marker::PhantomData<fn() -> T>,
}

impl<H, T, F> Handles<H, T, F>
where
    F: FnMut(H) -> T,
{
    pub fn new(items: Vec<H>, render: F) -> Self {
        Handles {
            items: items.into_iter(),
            render,
            _out: std::marker::PhantomData,
        }
    }
}

impl<H, T, F> Pager for Handles<H, T, F>
where
    H: Send + 'static,
    T: Send + 'static,
    F: FnMut(H) -> T + Send + 'static,
{
    type Item = T;

    fn next_page(&mut self) -> Option<Vec<T>> {
        let page: Vec<T> = self
            .items
            .by_ref()
            .take(PAGE)
            .map(&mut self.render)
            .collect();
        (!page.is_empty()).then_some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn pages_stream_in_order_and_release_their_slot() {
        let slots = Arc::new(Semaphore::new(1));
        let p = permit(&slots).await.unwrap();
        let n = PAGE * 3 + 5;
        let s = stream(
            p,
            Handles::new((0..n).collect(), |i: usize| i * 2),
            STALL_TIMEOUT,
        );
        let got: Vec<usize> = s.map(|r| r.unwrap()).collect().await;
        assert_eq!(got, (0..n).map(|i| i * 2).collect::<Vec<_>>());
        // The producer dropped its permit at the end.
        let again = tokio::time::timeout(Duration::from_secs(5), slots.acquire()).await;
        assert!(again.expect("slot released").is_ok());
    }

    #[tokio::test]
    async fn a_stalled_reader_is_cut_off_with_an_error() {
        let slots = Arc::new(Semaphore::new(1));
        let p = permit(&slots).await.unwrap();
        let stall = Duration::from_millis(200);
        let mut s = stream(
            p,
            Handles::new((0..PAGE * 10).collect(), |i: usize| i),
            stall,
        );
        // Take one entry, then stop reading for longer than the stall timeout.
        assert_eq!(s.next().await.unwrap().unwrap(), 0);
        tokio::time::sleep(stall * 3).await;
        // The slot is free again although the stream is still open.
        assert!(
            slots.try_acquire().is_ok(),
            "abandoned dump released its slot"
        );
        let rest: Vec<Result<usize, Status>> = s.collect().await;
        let last = rest.last().unwrap();
        assert_eq!(
            last.as_ref().unwrap_err().code(),
            tonic::Code::DeadlineExceeded
        );
        assert!(rest.len() < PAGE * 3, "only what was buffered came through");
    }

    #[tokio::test]
    async fn slots_are_bounded() {
        let slots = Arc::new(Semaphore::new(1));
        let _held = permit(&slots).await.unwrap();
        let e = permit_within(&slots, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    }
}

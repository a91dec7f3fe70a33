//! gzip over every core: the stream is cut into pieces of a fixed size,
//! each piece is compressed as a gzip member of its own on a thread of its
//! own, and the members are written in order. A file of several members is
//! one gzip stream to every reader (RFC 1952 §2.2; Go's, zlib's `gunzip`,
//! flate2's `MultiGzDecoder`). The pieces are independent, so the same
//! bytes give the same blob whatever the number of cores.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// The size of a piece: large enough that a member's fresh dictionary
/// costs little ratio (about 1% at level 6 on a virtualenv), small enough that a
/// layer of a few MiB already keeps two cores busy. Part of the blob's
/// bytes: changing it changes every digest.
pub const PIECE: usize = 1 << 20;

/// A writer compressing into `out`.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    piece: Vec<u8>,
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    /// Whether a piece was handed to a thread yet.
    sent_any: bool,
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(out: W, level: u32) -> ParallelGzip<W> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParallelGzip { out, level, piece: Vec::with_capacity(PIECE), in_flight: VecDeque::new(), max_in_flight: cores, sent_any: false }
    }

    /// Hands the current piece to a thread, first writing the oldest
    /// member out when every core is busy.
    fn send_piece(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        let level = self.level;
        while self.in_flight.len() >= self.max_in_flight {
            self.write_oldest()?;
        }
        let handle = std::thread::Builder::new().name("gzip".into()).spawn(move || compress(&piece, level))?;
        self.in_flight.push_back(handle);
        self.sent_any = true;
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(handle) = self.in_flight.pop_front() else { return Ok(()) };
        let member = handle.join().map_err(|_| io::Error::other("a compression thread panicked"))??;
        self.out.write_all(&member)?;
        Ok(())
    }

    /// Compresses what is left and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        // An empty stream is still one (empty) member, as a single
        // gzip writer gives.
        if !self.piece.is_empty() || !self.sent_any {
            self.send_piece()?;
        }
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

fn compress(piece: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::with_capacity(piece.len() / 3 + 64), flate2::Compression::new(level));
    gz.write_all(piece)?;
    gz.finish()
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let take = (PIECE - self.piece.len()).min(buf.len());
            self.piece.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.piece.len() == PIECE {
                self.send_piece()?;
            }
        }
        Ok(written)
    }

    /// Members are written as they are done; what is buffered is
    /// compressed only at `finish`, so that the pieces keep their size.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(blob).read_to_end(&mut out).unwrap();
        out
    }

    fn pseudo_random(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Compressible: runs of text-like bytes.
                if i % 64 < 40 { b'a' + (x % 26) as u8 } else { b' ' }
            })
            .collect()
    }

    fn compress_with(data: &[u8], cores: usize, chunks: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 6);
        gz.max_in_flight = cores;
        for part in data.chunks(chunks.max(1)) {
            gz.write_all(part).unwrap();
        }
        gz.finish().unwrap()
    }

    #[test]
    fn round_trips_and_is_the_same_for_any_number_of_cores_and_writes() {
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 12_345] {
            let data = pseudo_random(len);
            let one = compress_with(&data, 1, 4096);
            assert_eq!(gunzip(&one), data, "length {len}");
            assert_eq!(compress_with(&data, 2, 1 << 16), one, "length {len}: two cores");
            assert_eq!(compress_with(&data, 8, 777), one, "length {len}: eight cores, odd writes");
        }
    }

    #[test]
    fn a_stream_of_one_piece_is_what_a_single_gzip_writer_gives() {
        let data = pseudo_random(PIECE / 2);
        assert_eq!(compress_with(&data, 2, 1000), compress(&data, 6).unwrap());
        assert_eq!(compress_with(&[], 2, 1), compress(&[], 6).unwrap());
    }
}

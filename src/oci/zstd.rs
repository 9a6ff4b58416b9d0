//! zstd-compressed layers: ruzstd decodes one frame at a time; this walks a whole stream.

use std::io::{self, BufRead, Read};

/// A zstd stream of one or more frames (skippable ones skipped), as `zstd` and
/// containers/storage write them; ruzstd's own reader stops after the first frame.
pub enum ZstdFrames<R: BufRead> {
    Between(R),
    Frame(R, Box<ruzstd::decoding::FrameDecoder>),
    Failed,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
        loop {
            match std::mem::replace(self, ZstdFrames::Failed) {
                ZstdFrames::Frame(mut src, mut dec) => {
                    while dec.can_collect() == 0 && !dec.is_finished() {
                        dec.decode_blocks(&mut src, BlockDecodingStrategy::UptoBlocks(1))
                            .map_err(io::Error::other)?;
                    }
                    let n = dec.read(buf)?;
                    if n > 0 || buf.is_empty() || dec.can_collect() > 0 {
                        *self = ZstdFrames::Frame(src, dec);
                        return Ok(n);
                    }
                    *self = ZstdFrames::Between(src);
                }
                ZstdFrames::Between(mut src) => {
                    if src.fill_buf()?.is_empty() {
                        *self = ZstdFrames::Between(src);
                        return Ok(0);
                    }
                    let mut dec = Box::new(FrameDecoder::new());
                    match dec.init(&mut src) {
                        Ok(()) => *self = ZstdFrames::Frame(src, dec),
                        Err(FrameDecoderError::ReadFrameHeaderError(
                            ReadFrameHeaderError::SkipFrame { length, .. },
                        )) => {
                            io::copy(&mut (&mut src).take(length.into()), &mut io::sink())?;
                            *self = ZstdFrames::Between(src);
                        }
                        Err(e) => return Err(io::Error::other(e)),
                    }
                }
                ZstdFrames::Failed => return Err(io::Error::other("zstd stream failed before")),
            }
        }
    }
}

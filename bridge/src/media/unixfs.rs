//! The IPFS file layout, as `ipfs add --cid-version=1 --raw-leaves` (256 KiB chunks) builds
//! it: so a file stored by any node has the CID a real IPFS node gives the same bytes, and a
//! block fetched from anyone can be checked against the CID that names it.
//!
//! A file of one chunk is a single raw block. A longer one is a balanced tree of UnixFS
//! `File` nodes in DAG-PB, at most 174 links each, whose leaves are the raw chunks in order.

use bytes::Bytes;
use cid::Cid;
use ipld_dagpb::{PbLink, PbNode};
use multihash_codetable::{Code, MultihashDigest};
use quick_protobuf::{BytesReader, Writer};

/// Bytes per leaf (`--chunker=size-262144`, the IPFS default).
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Links per node of the balanced layout (the IPFS default).
pub const MAX_LINKS: usize = 174;
/// The multicodec of a raw leaf.
pub const RAW: u64 = 0x55;
/// The multicodec of a DAG-PB node.
pub const DAG_PB: u64 = 0x70;
/// The multihash code of sha2-256, the only hash Consort's CIDs use.
pub const SHA2_256: u64 = 0x12;
/// The UnixFS `Data.Type` of a file node.
const UNIXFS_FILE: i32 = 2;

/// One content-addressed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its identifier.
    pub cid: Cid,
    /// Its bytes.
    pub data: Bytes,
}

/// A file cut into blocks: every leaf and node, the root last.
#[derive(Clone, Debug)]
pub struct FileDag {
    /// The file's CID.
    pub root: Cid,
    /// The blocks, each once, children before their parents.
    pub blocks: Vec<Block>,
}

/// Why a block or a DAG is not what its CID says.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DagError {
    /// The CID uses a codec or hash Consort does not store.
    #[error("{0} is not a CIDv1 of a raw or DAG-PB block with a sha2-256 hash")]
    Unsupported(String),
    /// The bytes do not hash to the CID.
    #[error("the block does not match its CID {0}")]
    Mismatch(String),
    /// A DAG-PB block that is not a UnixFS file node.
    #[error("block {0} is not a UnixFS file node: {1}")]
    Malformed(String, String),
}

/// The CID of `data` as one block of codec `codec`.
pub fn cid_of(codec: u64, data: &[u8]) -> Cid {
    Cid::new_v1(codec, Code::Sha2_256.digest(data))
}

/// Parses a CID of a kind Consort stores (v1, raw or DAG-PB, sha2-256).
pub fn parse_cid(text: &str) -> Result<Cid, DagError> {
    let cid = Cid::try_from(text).map_err(|_| DagError::Unsupported(text.to_owned()))?;
    check_kind(&cid)?;
    Ok(cid)
}

fn check_kind(cid: &Cid) -> Result<(), DagError> {
    let ok = cid.version() == cid::Version::V1
        && matches!(cid.codec(), RAW | DAG_PB)
        && cid.hash().code() == SHA2_256;
    if ok {
        Ok(())
    } else {
        Err(DagError::Unsupported(cid.to_string()))
    }
}

/// Checks that `data` is the block `cid` names.
pub fn verify_block(cid: &Cid, data: &[u8]) -> Result<(), DagError> {
    check_kind(cid)?;
    if Code::Sha2_256.digest(data) == *cid.hash() {
        Ok(())
    } else {
        Err(DagError::Mismatch(cid.to_string()))
    }
}

/// A node of the tree under construction.
struct Built {
    cid: Cid,
    /// The bytes of the file below it.
    file_size: u64,
    /// The bytes of every block below it, itself included (a link's `Tsize`).
    tree_size: u64,
}

/// Cuts `data` into the blocks `ipfs add --cid-version=1 --raw-leaves` makes of it.
pub fn build(data: &[u8]) -> FileDag {
    let mut blocks = Vec::new();
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(CHUNK_SIZE).collect()
    };
    let mut level: Vec<Built> = chunks
        .into_iter()
        .map(|chunk| {
            let cid = cid_of(RAW, chunk);
            blocks.push(Block {
                cid,
                data: Bytes::copy_from_slice(chunk),
            });
            Built {
                cid,
                file_size: chunk.len() as u64,
                tree_size: chunk.len() as u64,
            }
        })
        .collect();
    // A single chunk is the file itself; otherwise every group of children gets a parent,
    // even a group of one, until one node is left.
    while level.len() > 1 {
        level = level
            .chunks(MAX_LINKS)
            .map(|children| {
                let (node, built) = file_node(children);
                blocks.push(node);
                built
            })
            .collect();
    }
    let root = level.pop().expect("at least one chunk").cid;
    // The same chunk can occur twice in a file: keep each block once.
    let mut seen = std::collections::HashSet::new();
    blocks.retain(|b| seen.insert(b.cid));
    FileDag { root, blocks }
}

/// The UnixFS file node above `children`.
fn file_node(children: &[Built]) -> (Block, Built) {
    let file_size: u64 = children.iter().map(|c| c.file_size).sum();
    let mut unixfs = Vec::new();
    {
        let mut w = Writer::new(&mut unixfs);
        // Type = File, filesize, then one blocksize per child (proto2, not packed); no
        // inline data.
        w.write_with_tag(8, |w| w.write_enum(UNIXFS_FILE))
            .and_then(|_| w.write_with_tag(24, |w| w.write_uint64(file_size)))
            .expect("writing to a Vec cannot fail");
        for c in children {
            w.write_with_tag(32, |w| w.write_uint64(c.file_size))
                .expect("writing to a Vec cannot fail");
        }
    }
    let node = PbNode {
        links: children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: Some(String::new()),
                size: Some(c.tree_size),
            })
            .collect(),
        data: Some(Bytes::from(unixfs)),
    };
    let bytes = node.into_bytes();
    let cid = cid_of(DAG_PB, &bytes);
    let tree_size = bytes.len() as u64 + children.iter().map(|c| c.tree_size).sum::<u64>();
    (
        Block {
            cid,
            data: Bytes::from(bytes),
        },
        Built {
            cid,
            file_size,
            tree_size,
        },
    )
}

/// What one verified block contributes to its file: for a raw leaf its bytes, for a file
/// node its inline data (none in Consort's layout) and its children, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Part {
    /// File bytes.
    Leaf(Bytes),
    /// Inline bytes first, then the children's bytes.
    Node {
        /// Bytes carried in the node itself.
        inline: Bytes,
        /// The children, in file order.
        children: Vec<Cid>,
    },
}

/// Checks `data` against `cid` and says what it holds.
pub fn decode_block(cid: &Cid, data: Bytes) -> Result<Part, DagError> {
    verify_block(cid, &data)?;
    if cid.codec() == RAW {
        return Ok(Part::Leaf(data));
    }
    let bad = |why: &str| DagError::Malformed(cid.to_string(), why.to_owned());
    let node = PbNode::from_bytes(data).map_err(|e| bad(&e.to_string()))?;
    let unixfs = node.data.ok_or_else(|| bad("no UnixFS data"))?;
    let mut reader = BytesReader::from_bytes(&unixfs);
    let mut kind = None;
    let mut inline = Bytes::new();
    while !reader.is_eof() {
        match reader.next_tag(&unixfs) {
            Ok(8) => {
                kind = Some(
                    reader
                        .read_enum::<i32>(&unixfs)
                        .map_err(|e| bad(&e.to_string()))?,
                )
            }
            Ok(18) => {
                let d = reader
                    .read_bytes(&unixfs)
                    .map_err(|e| bad(&e.to_string()))?;
                inline = unixfs.slice_ref(d);
            }
            Ok(tag) => reader
                .read_unknown(&unixfs, tag)
                .map_err(|e| bad(&e.to_string()))?,
            Err(e) => return Err(bad(&e.to_string())),
        }
    }
    if kind != Some(UNIXFS_FILE) {
        return Err(bad("not a file"));
    }
    let children = node.links.into_iter().map(|l| l.cid).collect::<Vec<_>>();
    for child in &children {
        check_kind(child)?;
    }
    Ok(Part::Node { inline, children })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
    }

    /// Reassembles a file from its blocks, checking each against its CID.
    fn read(dag: &FileDag) -> Vec<u8> {
        fn walk(cid: &Cid, dag: &FileDag, out: &mut Vec<u8>) {
            let block = dag.blocks.iter().find(|b| b.cid == *cid).expect("block");
            match decode_block(cid, block.data.clone()).expect("valid block") {
                Part::Leaf(bytes) => out.extend_from_slice(&bytes),
                Part::Node { inline, children } => {
                    out.extend_from_slice(&inline);
                    for c in &children {
                        walk(c, dag, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&dag.root, dag, &mut out);
        out
    }

    #[test]
    fn files_round_trip_through_their_blocks() {
        for len in [0, 1024, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * 1024 * 1024] {
            let data = pattern(len);
            let dag = build(&data);
            assert_eq!(read(&dag), data, "{len} bytes");
            let codec = if len <= CHUNK_SIZE { RAW } else { DAG_PB };
            assert_eq!(dag.root.codec(), codec, "{len} bytes");
        }
    }

    /// CIDs a real IPFS node (js-ipfs 0.66, `add --cid-version=1 --raw-leaves
    /// --chunker=size-262144`) gave for the same bytes; see `homeserver/ipfs-tests/README.md`.
    #[test]
    fn cids_equal_those_of_an_ipfs_node() {
        for (len, cid) in [
            (
                0,
                "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            ),
            (
                1024,
                "bafkreienzxhsjvpotyrcx27un4nzhnnzeolqemh2ztj44juk37jr4pxrt4",
            ),
            (
                CHUNK_SIZE,
                "bafkreieiuj5mzeuqor24l4lmo2yumm6665yv4gq7ozzp2nrfmqrjyboosy",
            ),
            (
                CHUNK_SIZE + 1,
                "bafybeich6cqd6yabw3cku6edwmz4rvwe275nx2l6ootvc2bpbt5bdvarua",
            ),
            (
                3 * 1024 * 1024,
                "bafybeifdlasmbse6f5dmtowtt2jzeedexsppzirz5b75e2dvhpxcuk5vrq",
            ),
            // 175 chunks: two layers, the last chunk under a node of its own.
            (
                CHUNK_SIZE * MAX_LINKS + 1,
                "bafybeibo5yjphmmdq6aigqtgrijost25l5lmv5l37von7hrjv7sagnx4sy",
            ),
        ] {
            assert_eq!(build(&pattern(len)).root.to_string(), cid, "{len} bytes");
        }
    }

    #[test]
    fn a_tampered_block_is_refused() {
        let dag = build(&pattern(CHUNK_SIZE + 1));
        let leaf = &dag.blocks[0];
        let mut bad = leaf.data.to_vec();
        bad[10] ^= 1;
        assert_eq!(
            decode_block(&leaf.cid, Bytes::from(bad)),
            Err(DagError::Mismatch(leaf.cid.to_string()))
        );
        assert!(parse_cid("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi").is_ok());
        assert!(parse_cid("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG").is_err());
        assert!(parse_cid("not a cid").is_err());
    }
}

//! The URIs of a media playlist, and the playlist with them replaced: how a
//! farm node hands a player presigned object-store URLs for every segment
//! and initialization section of a package kept in a bucket (RFC 8216
//! §4.3.2.1 `EXTINF` segment URIs, §4.3.2.5 `EXT-X-MAP:URI`).

use m3u8_rs::{MediaPlaylist, Playlist};

fn parse_media(bytes: &[u8]) -> Option<MediaPlaylist> {
    match m3u8_rs::parse_playlist_res(bytes) {
        Ok(Playlist::MediaPlaylist(p)) => Some(p),
        _ => None,
    }
}

/// Every URI a media playlist makes the player fetch (segments and
/// `EXT-X-MAP` initialization sections), in playlist order, each once.
/// `None` when `bytes` is not a media playlist (a master playlist, or not
/// HLS at all).
pub fn media_playlist_uris(bytes: &[u8]) -> Option<Vec<String>> {
    let p = parse_media(bytes)?;
    let mut out: Vec<String> = Vec::new();
    for s in &p.segments {
        for uri in s.map.as_ref().map(|m| &m.uri).into_iter().chain([&s.uri]) {
            if !out.contains(uri) {
                out.push(uri.clone());
            }
        }
    }
    Some(out)
}

/// The media playlist `bytes` written again with each segment and
/// `EXT-X-MAP` URI replaced by `to(uri)` (kept where `to` gives `None`);
/// every other tag is kept. `None` when `bytes` is not a media playlist.
pub fn rewrite_media_playlist(bytes: &[u8], to: impl Fn(&str) -> Option<String>) -> Option<Vec<u8>> {
    let mut p = parse_media(bytes)?;
    for s in &mut p.segments {
        if let Some(m) = &mut s.map
            && let Some(u) = to(&m.uri)
        {
            m.uri = u;
        }
        if let Some(u) = to(&s.uri) {
            s.uri = u;
        }
    }
    let mut out = Vec::with_capacity(bytes.len() * 2);
    p.write_to(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDIA: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n\
        #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000,\nseg_00000.m4s\n\
        #EXTINF:2.500,\nseg_00001.m4s\n#EXT-X-ENDLIST\n";

    #[test]
    fn uris_are_listed_once_in_order_and_replaced() {
        assert_eq!(media_playlist_uris(MEDIA.as_bytes()).unwrap(), ["init.mp4", "seg_00000.m4s", "seg_00001.m4s"]);
        let out =
            rewrite_media_playlist(MEDIA.as_bytes(), |u| (u != "seg_00001.m4s").then(|| format!("https://b/{u}?sig")))
                .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("URI=\"https://b/init.mp4?sig\""), "{text}");
        assert!(text.contains("\nhttps://b/seg_00000.m4s?sig\n") && text.contains("\nseg_00001.m4s\n"), "{text}");
        assert!(text.contains("#EXT-X-ENDLIST") && text.contains("#EXTINF:2.5"), "{text}");
        let again = media_playlist_uris(text.as_bytes()).unwrap();
        assert_eq!(again, ["https://b/init.mp4?sig", "https://b/seg_00000.m4s?sig", "seg_00001.m4s"]);
    }

    #[test]
    fn a_master_playlist_or_other_bytes_are_not_media_playlists() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n";
        assert!(media_playlist_uris(master.as_bytes()).is_none());
        assert!(rewrite_media_playlist(master.as_bytes(), |_| None).is_none());
        assert!(media_playlist_uris(b"not a playlist").is_none());
    }
}

package imapserver

import (
	"encoding/json"

	"mailgrid/internal/message"
)

// A FETCH decodes of a message's Meta (message.Info as JSON) only what its items use: the
// body structure, the largest part of a multipart message's Meta, only for BODYSTRUCTURE,
// BODY and sections that name a part (RFC 9051 6.4.5); ENVELOPE and the whole message's
// HEADER and TEXT need the envelope and the header and message sizes alone.

// infoNoStructure is message.Info without its body structure, decoded from the same JSON.
type infoNoStructure struct {
	Envelope   message.Envelope `json:"env"`
	HeaderSize int64            `json:"hsize"`
	Size       int64            `json:"size"`
	Malformed  bool             `json:"bad,omitempty"`
}

// needsStructure reports whether a FETCH item reads the body structure.
func needsStructure(atts []fetchAtt) bool {
	for _, a := range atts {
		switch a.name {
		case "BODYSTRUCTURE":
			return true
		case "BODY", "BINARY", "BINARY.SIZE":
			if a.section == nil || len(a.section.part) > 0 {
				return true
			}
		}
	}
	return false
}

// decodeInfo decodes a Meta, with its structure when structure is set; nil when it cannot
// be decoded (the caller parses the body instead).
func decodeInfo(meta []byte, structure bool) *message.Info {
	if structure {
		info := new(message.Info)
		if json.Unmarshal(meta, info) != nil {
			return nil
		}
		return info
	}
	var lite infoNoStructure
	if json.Unmarshal(meta, &lite) != nil {
		return nil
	}
	return &message.Info{Envelope: lite.Envelope, HeaderSize: lite.HeaderSize, Size: lite.Size, Malformed: lite.Malformed}
}

package sqlite

// schemaV7 adds the domain's own attachment limit (directory.Domain.MaxAttachmentBytes;
// 0: its plan's applies).
const schemaV7 = `
ALTER TABLE domains ADD COLUMN max_attachment_bytes INTEGER NOT NULL DEFAULT 0 CHECK (max_attachment_bytes >= 0);
`

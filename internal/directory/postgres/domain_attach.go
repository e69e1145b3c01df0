package postgres

// schemaV10 adds the domain's own attachment limit (directory.Domain.MaxAttachmentBytes;
// 0: its plan's applies).
const schemaV10 = `
ALTER TABLE domains ADD COLUMN max_attachment_bytes bigint NOT NULL DEFAULT 0 CHECK (max_attachment_bytes >= 0);
`

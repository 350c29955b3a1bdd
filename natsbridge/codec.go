package natsbridge

import "encoding/json"

// Codec turns an event into the payload of a NATS message and back. The
// content type it names travels in the content-type header; an import whose
// codec names another one dead-letters the message as undecodable.
type Codec interface {
	// ContentType is the media type of the payloads, like
	// "application/json".
	ContentType() string
	// Marshal encodes v, a value of the exported topic's type.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a pointer to a value of the imported
	// topic's type.
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json, content type
// "application/json". Unknown fields are ignored, as encoding/json does, so
// that a producer may add fields before its consumers know them.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) ContentType() string                { return "application/json" }
func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

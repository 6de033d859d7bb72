package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/registry-checks/registry-checks/lib/httpclient"
	"github.com/registry-checks/registry-checks/lib/secret"
)

// Webhook is a chat incoming webhook that takes {"text": ...} (Slack,
// Mattermost and Rocket.Chat accept that body).
type Webhook struct {
	URL  string // a secret: the path is the credential; never print it
	From string // where the URL came from, for messages: "/etc/registry-checks/chat-webhook"
	HTTP *httpclient.Client
}

// LoadWebhook reads the chat webhook URL from file (mode 600 or 640, as
// secret.LoadValueFile enforces) and registers it with red: the whole URL
// and its path, which is the credential.
func LoadWebhook(file string, red *secret.Redactor, hc *httpclient.Client) (*Webhook, error) {
	u, err := secret.LoadValueFile(file)
	if err != nil {
		return nil, fmt.Errorf("--webhook-url-file: %w", err)
	}
	red.Add(u)
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			red.Add(u[i+3+j:]) // the path is the credential
		}
	}
	return &Webhook{URL: u, From: file, HTTP: hc}, nil
}

// Body is the JSON a chat webhook gets for text, made inert (ChatSafe).
func Body(text string) []byte {
	b, _ := json.Marshal(map[string]string{"text": ChatSafe(text)})
	return b
}

// Post sends text, made inert for chat (ChatSafe). The error (a
// *PostError) names the file the URL came from, never the URL's path.
func (w *Webhook) Post(ctx context.Context, text string) error {
	return w.Send(ctx, Body(text))
}

// Send posts a body made by Body.
func (w *Webhook) Send(ctx context.Context, body []byte) error {
	return Post(ctx, w.HTTP, w.URL, body, "chat webhook (URL in "+w.From+")", true)
}

// chatEscapes are the three characters Slack's message format gives a
// meaning (documented escapes; Mattermost and Rocket.Chat render the
// entities as the characters).
var chatEscapes = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// chatMentions are the words after an @ that notify a whole channel in
// Mattermost and Rocket.Chat.
var chatMentions = regexp.MustCompile(`(?i)@(channel|here|all|everyone)\b`)

// ChatSafe makes text inert in a chat message: a document id or an error
// the server sent can say "<!channel>" (Slack) or "@here" (Mattermost,
// Rocket.Chat), and a replication's name must not page a whole channel.
// Slack's &, < and > are escaped, and a zero-width space after the @
// breaks the others; the text reads the same.
func ChatSafe(text string) string {
	return chatMentions.ReplaceAllString(chatEscapes.Replace(text), "@\u200b$1")
}

package lifecycle

import "github.com/fxbus/fxbus/handlers"

// Observers combines handler observers into one that passes every call to
// each of them, in order. Nil observers are left out; with none left the
// result is nil (calls are then not observed at all), and with one it is that
// observer itself.
func Observers(obs ...handlers.Observer) handlers.Observer {
	var f fanout
	for _, o := range obs {
		if o != nil {
			f = append(f, o)
		}
	}
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return f
}

type fanout []handlers.Observer

func (f fanout) Bind(topic, subscriber string) handlers.CallObserver {
	var cs callFanout
	for _, o := range f {
		if c := o.Bind(topic, subscriber); c != nil {
			cs = append(cs, c)
		}
	}
	switch len(cs) {
	case 0:
		return nopCall{}
	case 1:
		return cs[0]
	}
	return cs
}

type callFanout []handlers.CallObserver

func (cs callFanout) Observe(c handlers.Call) {
	for _, o := range cs {
		o.Observe(c)
	}
}

type nopCall struct{}

func (nopCall) Observe(handlers.Call) {}

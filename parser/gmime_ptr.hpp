// Owning pointers for GLib and GMime objects, so every early return releases them.
// GMime is parser/'s MIME library; the alert email sink builds its mails with it too.
#pragma once

#include <glib.h>
#include <glib-object.h>

#include <memory>

namespace tlsrpt {

struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
// A GObject (GMimeMessage, GMimeStream, GMimeFilter ...) released with g_object_unref.
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};
// A string GLib or GMime allocated, released with g_free.
using GCharPtr = std::unique_ptr<char, GFree>;

}  // namespace tlsrpt

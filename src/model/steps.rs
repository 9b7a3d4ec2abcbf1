//! A workflow's steps, moved into place when first read.
//!
//! A keystroke moves every step after it by the bytes it inserted or removed. Moving them all
//! costs a pass over every later step (half the document, in memory scattered over the
//! heap), which the keystroke's own diagnostics do not need: they are found in the edited
//! steps and in findings kept relative to their items. So the distance each step has yet to
//! move is kept in a compact list instead, added to at each keystroke, and the steps are
//! moved once, by the first reader of this version that needs them in place (a request, a
//! header edit, a change of step IDs). Keystrokes typed with no reader in between cost one
//! move in all.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::{Mutex, OnceLock};

use crate::syntax::text::OffsetBy;

use super::workflow::Step;

/// The steps of a workflow, in order; reads as a slice of steps in place.
#[derive(Default)]
pub struct Steps {
    placed: OnceLock<Vec<Step>>,
    /// The steps before they are placed, and how far each has yet to move.
    moving: Mutex<Option<(Vec<Step>, Vec<isize>)>>,
}

impl Steps {
    /// Steps already in place.
    pub fn new(steps: Vec<Step>) -> Steps {
        let placed = OnceLock::new();
        let _ = placed.set(steps);
        Steps {
            placed,
            moving: Mutex::new(None),
        }
    }

    /// Steps of which the i-th has yet to move by `by[i]` bytes.
    pub fn moving(steps: Vec<Step>, by: Vec<isize>) -> Steps {
        assert_eq!(steps.len(), by.len(), "a distance for every step");
        Steps {
            placed: OnceLock::new(),
            moving: Mutex::new(Some((steps, by))),
        }
    }

    /// The steps, as they are, and how far each has yet to move, for the next version to
    /// carry (and add its own keystroke's move to) without moving them.
    pub fn into_moving(self) -> (Vec<Step>, Vec<isize>) {
        if let Some(steps) = self.placed.into_inner() {
            let by = vec![0; steps.len()];
            return (steps, by);
        }
        let moving = self.moving.into_inner().unwrap_or_else(|e| e.into_inner());
        moving.unwrap_or_default()
    }

    /// Calls `read` with the steps of `range`, which must have nothing left to move (steps
    /// lowered for this version), without placing the others. `read` must not read these
    /// steps in place: it runs under the lock that placing them takes.
    pub fn read_unmoved<R>(&self, range: Range<usize>, read: impl FnOnce(&[Step]) -> R) -> R {
        if let Some(placed) = self.placed.get() {
            return read(&placed[range]);
        }
        let moving = self.moving.lock().unwrap_or_else(|e| e.into_inner());
        match moving.as_ref() {
            Some((steps, by)) => {
                debug_assert!(by[range.clone()].iter().all(|&b| b == 0), "steps still to move");
                read(&steps[range])
            }
            // Placed by another thread between the two looks.
            None => {
                drop(moving);
                read(&self[range])
            }
        }
    }

    fn placed(&self) -> &Vec<Step> {
        self.placed.get_or_init(|| {
            let moving = self.moving.lock().unwrap_or_else(|e| e.into_inner()).take();
            let (mut steps, by) = moving.unwrap_or_default();
            for (step, by) in steps.iter_mut().zip(by) {
                if by != 0 {
                    step.offset_by(by);
                }
            }
            steps
        })
    }
}

impl Deref for Steps {
    type Target = [Step];

    fn deref(&self) -> &[Step] {
        self.placed()
    }
}

impl<'a> IntoIterator for &'a Steps {
    type Item = &'a Step;
    type IntoIter = std::slice::Iter<'a, Step>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<Step>> for Steps {
    fn from(steps: Vec<Step>) -> Steps {
        Steps::new(steps)
    }
}

impl Clone for Steps {
    fn clone(&self) -> Steps {
        Steps::new(self.to_vec())
    }
}

impl PartialEq for Steps {
    fn eq(&self, other: &Steps) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::text::Span;

    fn step_at(start: usize) -> Step {
        Step {
            span: Span::new(start, start + 10),
            ..Step::default()
        }
    }

    #[test]
    fn moving_steps_read_where_their_distances_put_them() {
        let steps = Steps::moving(vec![step_at(0), step_at(20), step_at(40)], vec![0, 3, -5]);
        let starts: Vec<usize> = steps.iter().map(|s| s.span.start).collect();
        assert_eq!(starts, [0, 23, 35]);
    }

    #[test]
    fn carried_steps_keep_their_distances_unapplied() {
        let steps = Steps::moving(vec![step_at(0), step_at(20)], vec![0, 3]);
        let (raw, by) = steps.into_moving();
        assert_eq!((raw[1].span.start, &by[..]), (20, &[0, 3][..]));
        let (placed, by) = Steps::moving(raw, by).clone().into_moving();
        assert_eq!((placed[1].span.start, by), (23, vec![0, 0]));
    }

    #[test]
    fn unmoved_steps_are_read_without_placing_the_rest() {
        let steps = Steps::moving(vec![step_at(0), step_at(20)], vec![0, 3]);
        assert_eq!(steps.read_unmoved(0..1, |s| s[0].span.start), 0);
        assert!(steps.placed.get().is_none());
        assert_eq!(steps[1].span.start, 23);
    }
}
